"""Real TFTP clients against the pxelab server, every download checked byte for byte."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path

import pytest
import tftpy

from tests.conftest import require_tool
from tests.tftp.conftest import make_file

BLKSIZES = [512, 1408, 1432, 1468, 8192, 65464]
SIZE = 200_003  # not a multiple of any block size: the last block is short


@pytest.fixture(autouse=True)
def _quiet_tftpy() -> None:
    logging.getLogger("tftpy").setLevel(logging.WARNING)


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=60, check=False, **kw)


def atftp_get(port: int, name: str, out: Path, options: dict[str, str]) -> None:
    argv = [require_tool("atftp")]
    for k, v in options.items():
        argv += ["--option", f"{k} {v}"]
    argv += ["-g", "-r", name, "-l", str(out), "127.0.0.1", str(port)]
    res = run(argv)
    assert res.returncode == 0, res.stderr.decode(errors="replace")


@pytest.mark.parametrize("tsize", [True, False], ids=["tsize", "no-tsize"])
@pytest.mark.parametrize("blksize", BLKSIZES)
def test_atftp(serve, engine: str, tftp_root: Path, tmp_path: Path, blksize: int,
               tsize: bool) -> None:
    data = make_file(tftp_root, "data.bin", SIZE)
    srv = serve(engine=engine)
    opts = {"blksize": str(blksize)}
    if tsize:
        opts["tsize"] = "0"
    atftp_get(srv.port, "data.bin", tmp_path / "out", opts)
    assert (tmp_path / "out").read_bytes() == data
    (ev,) = srv.wait_outcomes(1)
    assert (ev["outcome"], ev["bytes"], ev["blksize"]) == ("sent", SIZE, blksize)
    (req,) = srv.events("request")
    assert req["options"] == opts


@pytest.mark.parametrize("tsize", [True, False], ids=["tsize", "no-tsize"])
@pytest.mark.parametrize("blksize", BLKSIZES)
def test_tftpy(serve, tftp_root: Path, tmp_path: Path, blksize: int, tsize: bool) -> None:
    data = make_file(tftp_root, "data.bin", SIZE)
    srv = serve()
    opts: dict[str, int] = {"blksize": blksize}
    if tsize:
        opts["tsize"] = 0
    tftpy.TftpClient("127.0.0.1", srv.port, options=opts).download(
        "data.bin", str(tmp_path / "out"), timeout=5)
    assert (tmp_path / "out").read_bytes() == data
    (ev,) = srv.wait_outcomes(1)
    assert (ev["outcome"], ev["blksize"]) == ("sent", blksize)


@pytest.mark.parametrize("blksize", BLKSIZES)
def test_curl(serve, tftp_root: Path, tmp_path: Path, blksize: int) -> None:
    # curl always asks for tsize when it sends options.
    data = make_file(tftp_root, "data.bin", SIZE)
    srv = serve()
    out = tmp_path / "out"
    res = run([require_tool("curl"), "-sS", "--tftp-blksize", str(blksize),
               f"tftp://127.0.0.1:{srv.port}/data.bin", "-o", str(out)])
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == data
    (req,) = srv.events("request")
    assert "tsize" in req["options"]
    (ev,) = srv.wait_outcomes(1)
    assert (ev["outcome"], ev["blksize"]) == ("sent", blksize)


def test_curl_without_options(serve, tftp_root: Path, tmp_path: Path) -> None:
    data = make_file(tftp_root, "data.bin", SIZE)
    srv = serve()
    out = tmp_path / "out"
    res = run([require_tool("curl"), "-sS", "--tftp-no-options",
               f"tftp://127.0.0.1:{srv.port}/data.bin", "-o", str(out)])
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == data
    (req,) = srv.events("request")
    assert req["options"] == {}


def test_tftp_hpa_binary(serve, tftp_root: Path, tmp_path: Path) -> None:
    # tftp-hpa's client sends no options: plain RFC 1350 at 512 bytes.
    data = make_file(tftp_root, "sub/data.bin", SIZE)
    srv = serve()
    out = tmp_path / "out"
    res = run([require_tool("tftp"), "-m", "binary", "127.0.0.1", str(srv.port), "-c", "get",
               "sub/data.bin", str(out)])
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == data


def test_tftp_hpa_netascii(serve, tftp_root: Path, tmp_path: Path) -> None:
    # netascii on the wire (LF -> CR LF, CR -> CR NUL); the client turns it back.
    text = b"line one\nline two\r\nbare CR\rhere\n" * 500 + b"end\r"
    (tftp_root / "text.cfg").write_bytes(text)
    srv = serve()
    out = tmp_path / "out"
    res = run([require_tool("tftp"), "-m", "ascii", "127.0.0.1", str(srv.port), "-c", "get",
               "text.cfg", str(out)])
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == text
    (ev,) = srv.wait_outcomes(1)
    assert ev["outcome"] == "sent"


def test_netascii_tsize_is_the_converted_size(serve, tftp_root: Path) -> None:
    from tests.tftp.raw import RawClient

    text = b"a\nb\r\nc\r" * 300
    (tftp_root / "t.txt").write_bytes(text)
    srv = serve()
    with RawClient(srv.port) as c:
        c.rrq("t.txt", {"tsize": "0"}, mode="netascii")
        oack, _ = c.recv()
    converted = text.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")
    assert oack.options == {"tsize": str(len(converted))}


@pytest.mark.parametrize("blksize", [512, 1468, 8192])
@pytest.mark.parametrize("windowsize", [4, 16])
def test_atftp_windowsize(serve, engine: str, tftp_root: Path, tmp_path: Path, windowsize: int,
                          blksize: int) -> None:
    data = make_file(tftp_root, "data.bin", 1_000_003)
    srv = serve(engine=engine)
    atftp_get(srv.port, "data.bin", tmp_path / "out",
              {"blksize": str(blksize), "windowsize": str(windowsize), "tsize": "0"})
    assert (tmp_path / "out").read_bytes() == data
    (ev,) = srv.wait_outcomes(1)
    assert (ev["outcome"], ev["windowsize"], ev["blksize"]) == ("sent", windowsize, blksize)


def test_exact_multiple_of_blksize_ends_with_empty_block(serve, tftp_root: Path,
                                                          tmp_path: Path) -> None:
    data = make_file(tftp_root, "even.bin", 1468 * 40)
    srv = serve()
    atftp_get(srv.port, "even.bin", tmp_path / "out", {"blksize": "1468"})
    assert (tmp_path / "out").read_bytes() == data
    empty = make_file(tftp_root, "empty.bin", 0)
    atftp_get(srv.port, "empty.bin", tmp_path / "out2", {"tsize": "0"})
    assert (tmp_path / "out2").read_bytes() == empty


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.parametrize("client", ["atftp", "tftp-hpa"])
def test_block_number_rollover(serve, engine: str, tftp_root: Path, tmp_path: Path,
                               client: str) -> None:
    # 32 MiB + a bit at 512 bytes a block: block numbers pass 65535 and wrap to 0.
    size = 32 * 1024 * 1024 + 12345
    make_file(tftp_root, "big.bin", size)
    srv = serve(engine=engine)
    out = tmp_path / "out"
    if client == "atftp":
        atftp_get(srv.port, "big.bin", out, {"blksize": "512", "tsize": "0"})
    else:
        res = run([require_tool("tftp"), "-m", "binary", "127.0.0.1", str(srv.port), "-c",
                   "get", "big.bin", str(out)])
        assert res.returncode == 0, res.stderr
    assert out.stat().st_size == size
    assert _sha(out) == _sha(tftp_root / "big.bin")
    (ev,) = srv.wait_outcomes(1)
    assert (ev["outcome"], ev["bytes"]) == ("sent", size)

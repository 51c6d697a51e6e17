"""The test guest: Debian kernels and a busybox initramfs, built from vm/guest/recipe.toml.

`python -m pxelab.lab.machines.guest` (or `artifact(name)` on first use) downloads the packages the
recipe names with apt-get of its own (own sources, lists and architecture: nothing is installed
and the system's apt state is not touched), takes the kernel and busybox out of them, and writes
into ~/.cache/pxelab/guest:

    kernel-amd64   linux-image-amd64's vmlinuz
    kernel-686     the i386 686 flavour's vmlinuz (wyse-sx0)
    kernel-arm64   linux-image-arm64's vmlinuz, an EFI application (uefi-arm64)
    initrd         gzip'd cpio (newc): busybox + /init, which prints
                   "PXELAB-GUEST-CMDLINE: <the contents of /proc/cmdline>" and powers off
    initrd-64m     the same initrd padded with zeros to 64 MiB (made from `initrd` on first
                   use, sparse on disk): the large initrd of the HTTP boot scenario and
                   benchmark. The kernel skips NUL bytes after a compressed archive, so the
                   guest boots as with the small one.

Building again is a no-op while the recipe and init script are unchanged (a stamp holds their
hash); several processes building at once serialise on a lock file.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
RECIPE_DIR = REPO / "vm" / "guest"
ARTIFACTS = ("kernel-amd64", "kernel-686", "kernel-arm64", "initrd")
# Derived artifacts: name -> (the artifact it is made from, its size in bytes).
PADDED = {"initrd-64m": ("initrd", 64 << 20)}
MARKER = "PXELAB-GUEST-CMDLINE: "


class GuestError(RuntimeError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pxelab" / "guest"


def load_recipe(recipe_dir: Path = RECIPE_DIR) -> dict[str, Any]:
    path = recipe_dir / "recipe.toml"
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GuestError(f"{path}: {exc}") from None


def recipe_hash(recipe_dir: Path = RECIPE_DIR) -> str:
    h = hashlib.sha256()
    for name in sorted(p.name for p in recipe_dir.iterdir() if p.is_file()):
        h.update(name.encode() + b"\0" + (recipe_dir / name).read_bytes() + b"\0")
    return h.hexdigest()


def artifact(name: str, cache: Path | None = None) -> Path:
    """The path of a built artifact (one of ARTIFACTS or PADDED), built if needed."""
    if name in PADDED:
        base, size = PADDED[name]
        return padded(build(cache)[base], cache_of(cache) / name, size)
    if name not in ARTIFACTS:
        known = ", ".join((*ARTIFACTS, *PADDED))
        raise GuestError(f"unknown guest artifact {name!r} (one of {known})")
    return build(cache)[name]


def cache_of(cache: Path | None) -> Path:
    return cache or cache_dir()


def padded(source: Path, dest: Path, size: int) -> Path:
    """`source` followed by NUL bytes up to `size` (sparse: no disk is spent on the padding).

    Linux's initramfs unpacker skips NUL bytes between and after archives (init/initramfs.c),
    so a padded initrd boots as the original does while every byte still crosses the wire.
    Made again when the source is newer or the size differs."""
    src = source.stat()
    if src.st_size > size:
        raise GuestError(f"{source} is {src.st_size} bytes, more than the {size} to pad to")
    if dest.exists():
        st = dest.stat()
        if st.st_size == size and st.st_mtime_ns >= src.st_mtime_ns:
            return dest
    with _locked(dest.parent / ".lock"):
        tmp = dest.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(source.read_bytes())
            out.truncate(size)
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    return dest


# --------------------------------------------------------------------------- apt of our own


class Apt:
    """apt-get/apt-cache for one architecture with private sources, lists and caches."""

    def __init__(self, root: Path, arch: str, sources: list[str], keyring: str) -> None:
        self.root = root
        self.arch = arch
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        lines = [f"deb [arch={arch} signed-by={keyring}] {s}" for s in sources]
        (root / "sources.list").write_text("\n".join(lines) + "\n")
        (root / "status").touch()
        self.options = [
            f"-oAPT::Architecture={arch}",
            f"-oAPT::Architectures={arch}",
            f"-oDir::Etc::SourceList={root / 'sources.list'}",
            f"-oDir::Etc::SourceParts={root / 'sources.list.d'}",
            f"-oDir::State::Lists={root / 'lists'}",
            f"-oDir::State::status={root / 'status'}",
            f"-oDir::Cache={root / 'cache'}",
            # Our cache is root's; apt's _apt download user could not write into it.
            "-oAPT::Sandbox::User=root",
            "-oAcquire::Retries=3",
            # A caching proxy on the way can hold a Packages file older than its Release.
            "-oAcquire::http::No-Cache=true",
        ]

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        argv = [tool, "-q", *self.options, *args]
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise GuestError(
                f"{' '.join([tool, *args])} ({self.arch}) failed with {proc.returncode}:\n"
                f"{proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc.stdout

    def update(self) -> str | None:
        """Fetch the lists; a failed index is a warning (returned), not an error: apt keeps the
        others, and a package then missing fails `resolve`/`download` with apt's own words.
        (Seen here: a mirror serving bookworm-security's i386 Packages out of step with its
        Release file.)"""
        try:
            self._run("apt-get", "update")
        except GuestError as exc:
            if not any((self.root / "lists").glob("*_Packages*")):
                raise
            return str(exc)
        return None

    def resolve(self, package: str) -> str:
        """A metapackage (linux-image-686) -> the image package it depends on; else itself."""
        out = self._run("apt-cache", "depends", "--important", package)
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("Depends:"):
                dep = line.split(":", 1)[1].strip().strip("<>")
                if dep.startswith("linux-image-"):
                    return dep
        return package

    def download(self, package: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        before = set(dest.glob("*.deb"))
        self._run("apt-get", "download", package, cwd=dest)
        new = [p for p in dest.glob(f"{package}_*.deb") if p not in before]
        found = new or sorted(dest.glob(f"{package}_*.deb"))
        if not found:
            raise GuestError(f"apt-get download {package} left no .deb in {dest}")
        return found[-1]


def extract(deb: Path, pattern: str) -> dict[str, bytes]:
    """Members of a .deb's data matching `pattern` (dpkg-deb --fsys-tarfile, read in memory:
    only the files asked for land on disk, not the whole package)."""
    proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True)
    if proc.returncode != 0:
        raise GuestError(f"dpkg-deb --fsys-tarfile {deb}: {proc.stderr.decode(errors='replace')}")
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if member.isfile() and fnmatch.fnmatch(name, pattern):
                f = tar.extractfile(member)
                assert f is not None
                found[name] = f.read()
    return found


def check_config(config: str, required: list[str], what: str) -> None:
    settings = set(config.splitlines())
    missing = [r for r in required if r not in settings]
    if missing:
        raise GuestError(f"{what}: kernel config lacks {', '.join(missing)}")


# --------------------------------------------------------------------------- initramfs


def _cpio_entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0),
                ino: int = 0) -> bytes:
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
    out = header + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def make_initramfs(busybox: bytes, init: bytes, applets: list[str]) -> bytes:
    """A gzip'd newc cpio, byte-for-byte the same for the same inputs (mtime 0, fixed order)."""
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = [
        ("bin", 0o040755, b"", (0, 0)),
        ("dev", 0o040755, b"", (0, 0)),
        # The kernel opens /dev/console for init's stdin/stdout before anything is mounted.
        ("dev/console", 0o020600, b"", (5, 1)),
        ("proc", 0o040755, b"", (0, 0)),
        ("sys", 0o040755, b"", (0, 0)),
        ("bin/busybox", 0o100755, busybox, (0, 0)),
        ("init", 0o100755, init, (0, 0)),
    ]
    entries += [(f"bin/{a}", 0o120777, b"busybox", (0, 0)) for a in applets]
    raw = b"".join(
        _cpio_entry(name, mode, data, rdev, ino=i + 1)
        for i, (name, mode, data, rdev) in enumerate(entries)
    )
    raw += _cpio_entry("TRAILER!!!", 0)
    raw += b"\0" * (-len(raw) % 512)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()


# --------------------------------------------------------------------------- build


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def build(cache: Path | None = None, recipe_dir: Path = RECIPE_DIR,
          log: Any = None) -> dict[str, Path]:
    """Build every artifact into `cache` unless already built from this very recipe."""
    cache = cache or cache_dir()
    outputs = {name: cache / name for name in ARTIFACTS}
    stamp = cache / "stamp"
    digest = recipe_hash(recipe_dir)
    if _fresh(stamp, digest, outputs):
        return outputs
    with _locked(cache / ".lock"):
        if _fresh(stamp, digest, outputs):  # someone else built it while we waited
            return outputs
        _build(cache, recipe_dir, outputs, log or (lambda msg: None))
        stamp.write_text(digest + "\n")
    return outputs


def built(cache: Path | None = None, recipe_dir: Path = RECIPE_DIR) -> bool:
    """Whether every artifact is in `cache`, built from this very recipe (no download)."""
    cache = cache or cache_dir()
    outputs = {name: cache / name for name in ARTIFACTS}
    return _fresh(cache / "stamp", recipe_hash(recipe_dir), outputs)


def _fresh(stamp: Path, digest: str, outputs: dict[str, Path]) -> bool:
    return (
        stamp.exists()
        and stamp.read_text().strip() == digest
        and all(p.exists() and p.stat().st_size > 0 for p in outputs.values())
    )


def _build(cache: Path, recipe_dir: Path, outputs: dict[str, Path], log: Any) -> None:
    recipe = load_recipe(recipe_dir)
    apt_cfg = recipe["apt"]
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise GuestError("building the guest needs apt-get and dpkg-deb (a Debian system)")
    apts: dict[str, Apt] = {}

    def apt_for(arch: str) -> Apt:
        if arch not in apts:
            apt = Apt(cache / f"apt-{arch}", arch, apt_cfg["sources"], apt_cfg["keyring"])
            log(f"apt-get update ({arch})")
            warning = apt.update()
            if warning:
                log(f"warning: {warning}")
            apts[arch] = apt
        return apts[arch]

    debs = cache / "debs"
    for name, spec in recipe["artifacts"].items():
        apt = apt_for(spec["arch"])
        package = apt.resolve(spec["package"])
        log(f"{name}: {package} ({spec['arch']})")
        deb = apt.download(package, debs)
        files = extract(deb, spec["file"])
        configs = extract(deb, "boot/config-*")
        if len(files) != 1:
            raise GuestError(f"{deb.name}: expected one {spec['file']}, found {sorted(files)}")
        if configs:
            check_config(next(iter(configs.values())).decode(), spec["require_config"], name)
        elif spec.get("require_config"):
            raise GuestError(f"{deb.name}: no boot/config-* to check {name}'s drivers against")
        _write(outputs[name], next(iter(files.values())))

    spec = recipe["initrd"]
    apt = apt_for(spec["arch"])
    deb = apt.download(apt.resolve(spec["package"]), debs)
    files = extract(deb, spec["file"])
    if len(files) != 1:
        raise GuestError(f"{deb.name}: expected {spec['file']}, found {sorted(files)}")
    init = (recipe_dir / spec["init"]).read_bytes()
    log(f"initrd: {deb.name} + {spec['init']}")
    _write(outputs["initrd"], make_initramfs(next(iter(files.values())), init, spec["applets"]))
    # Old downloads of other versions are dead weight once the artifacts are written.
    for old in debs.glob("*.deb"):
        old.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pxelab.lab.machines.guest", description="build the lab's test guest"
    )
    parser.add_argument("--cache", type=Path, default=None, help=f"default: {cache_dir()}")
    args = parser.parse_args(argv)
    try:
        outputs = build(args.cache, log=lambda msg: print(msg, file=sys.stderr))
    except GuestError as exc:
        print(f"guest: {exc}", file=sys.stderr)
        return 1
    for name, path in outputs.items():
        print(f"{name}\t{path}\t{path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

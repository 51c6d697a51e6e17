"""What a lab run tells people: results, the live progress line, the timeline, the HTML report.

Holds the records a run produces (`results`: `ClientResult`, `Result`, the failure text), the
progress display and table (`progress`), the boot timeline (`timeline`) and the report folder
(`html`). It sits below `scenario/` so the runner and the client drivers both import their
result types from here without a circle. It may import `pxelab.wire` (to read pcaps) and the
standard library; it imports nothing else from `pxelab.lab`.
"""

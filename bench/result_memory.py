"""Benchmark 4: peak memory of a worker storing and thumbnailing an 8192x8192 result.

    .venv/bin/python -m bench.result_memory [--side 8192] [--formats PNG,JPEG,WEBP]

The parent makes one 8192x8192 picture per format (a gradient with noise, so it does not
compress to nothing) and serves them over HTTP from an allow-listed local origin. For
each format a fresh child process sets Django up, notes its peak resident memory, then
does what a worker does with a result URL: `results.fetch_and_store` (streamed download
with its byte cap and deadline, image checks, thumbnail, storing both files). The figure
is the child's peak RSS before and after, and the difference.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import _harness as h


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8192)
    parser.add_argument("--formats", default="PNG,JPEG,WEBP")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return
    scratch = h.configure("memory")
    try:
        serve_and_measure(scratch.data_dir, args.side, args.formats.split(","))
    finally:
        h.stop_all(scratch)


def serve_and_measure(folder: Path, side: int, formats: list[str]) -> None:
    files = {fmt: make_picture(folder, side, fmt) for fmt in formats}
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for fmt, path in files.items():
            url = f"{origin}/{path.name}"
            command = [sys.executable, "-m", "bench.result_memory", "--child", url]
            own_dir = str(folder / f"child-{fmt.lower()}")  # its own database and media
            env = {"OUTBOUND_ALLOWED_ORIGINS": origin, "UPSCALER_DATA_DIR": own_dir}
            out = subprocess.run(
                command, cwd=h.ROOT, env={**h.os.environ, **env}, capture_output=True, text=True
            )
            if out.returncode:
                raise SystemExit(out.stderr[-2000:])
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            size_mb = round(path.stat().st_size / 2**20, 1)
            h.report("result_memory", {"format": fmt, "file_mb": size_mb, **figures})
    finally:
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def make_picture(folder: Path, side: int, fmt: str) -> Path:
    """A side x side RGB picture: two gradients and a noise channel."""
    from PIL import Image

    ramp = Image.linear_gradient("L").resize((side, side))
    noise = Image.effect_noise((side, side), 48)
    picture = Image.merge("RGB", (ramp, noise, ramp.transpose(Image.Transpose.ROTATE_90)))
    path = folder / f"result-{side}.{fmt.lower()}"
    options = {"quality": 90} if fmt in ("JPEG", "WEBP") else {"compress_level": 6}
    picture.save(path, fmt, **options)
    return path


def child(url: str) -> None:
    """In a fresh process: peak RSS before and after storing one result."""
    import django

    h.os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upscaler_site.settings")
    h.os.environ.update({"SANDBOX_ENABLED": "false", "DATABASE_URL": ""})
    django.setup()
    job = ready_job()
    baseline = peak_mb()
    from jobs import results
    from jobs.providers.registry import get_provider_class

    started = time.perf_counter()
    results.fetch_and_store(job, {"index": 0, "url": url}, get_provider_class(job.provider))
    seconds = time.perf_counter() - started
    stored = job.results.get()
    print(json.dumps({
        "stored": f"{stored.width}x{stored.height} {stored.format}",
        "seconds": round(seconds, 2),
        "baseline_peak_rss_mb": baseline,
        "peak_rss_mb": peak_mb(),
        "added_mb": round(peak_mb() - baseline, 1),
        "machine": h.machine(),
    }))  # fmt: skip


def ready_job() -> object:
    """A job row to store the result on, with every module a worker has loaded."""
    from django.core.management import call_command

    from jobs import imaging, services  # noqa: F401  (loaded, as in a worker)
    from jobs.models import UpscaleJob

    call_command("migrate", verbosity=0)
    user, team = h.sandbox_team(max_in_flight=1)
    source = h.upload(team, user)
    account = team.provider_accounts.get(provider="aimlapi")
    return UpscaleJob.objects.create(team=team, provider="aimlapi", account=account, source=source)


def peak_mb() -> float:
    """This process's peak resident memory so far, in MiB.

    VmHWM, not ru_maxrss: on Linux ru_maxrss carries the parent's high-water mark over
    fork and exec, while VmHWM belongs to this process's own address space.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("No VmHWM in /proc/self/status (Linux only).")


if __name__ == "__main__":
    main()

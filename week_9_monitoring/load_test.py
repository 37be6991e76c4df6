"""Drive a running service with concurrent POST /predict requests for a bounded time and print
requests/s, latency percentiles and the error count. Not a test: a measurement.

    python load_test.py --url http://127.0.0.1:8000 --seconds 20 --concurrency 16
"""

import argparse
import asyncio
import itertools
import statistics
import sys
import time

import httpx

SENTENCES = ["The boy is sleeping.", "The boy sleeping is.", "Who do you think that left?",
             "The more we study verbs, the crazier they get.", "Himself likes John.",
             "She gave the book to the student who asked for it.", "John seems sleeping."]


async def worker(client: httpx.AsyncClient, url: str, stop: float, sentences, results) -> None:
    while time.perf_counter() < stop:
        start = time.perf_counter()
        try:
            response = await client.post(url, json={"text": next(sentences)})
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        results.append((time.perf_counter() - start, ok))


async def run(url: str, seconds: float, concurrency: int) -> list[tuple[float, bool]]:
    results: list[tuple[float, bool]] = []
    sentences = itertools.cycle(SENTENCES)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        warm_up = await client.post(f"{url}/predict", json={"text": "Warm up."})
        if warm_up.status_code != 200:
            raise ValueError(f"{url}/predict answered {warm_up.status_code} to a valid request")
        stop = time.perf_counter() + seconds
        await asyncio.gather(*(worker(client, f"{url}/predict", stop, sentences, results)
                               for _ in range(concurrency)))
    return results


def summarize(results: list[tuple[float, bool]], elapsed: float) -> dict:
    """Requests/s, latency percentiles (ms) and the error count of one run."""
    latencies = sorted(t * 1000 for t, _ in results)
    return {"requests": len(results), "per_s": len(results) / elapsed,
            "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "errors": sum(not ok for _, ok in results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        parser.error("only services on this machine (127.0.0.1, localhost) are load-tested")
    if args.seconds <= 0 or args.concurrency < 1:
        parser.error("--seconds must be positive and --concurrency at least 1")
    started = time.perf_counter()
    try:
        results = asyncio.run(run(args.url.rstrip("/"), args.seconds, args.concurrency))
    except (httpx.HTTPError, ValueError) as err:
        print(f"error: {args.url}: {err or type(err).__name__} (is the service running? "
              f"python app.py)", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    if not results:
        print(f"error: {args.url}: no request completed in {args.seconds} s", file=sys.stderr)
        return 2
    stats = summarize(results, elapsed)
    print(f"{stats['requests']} requests in {elapsed:.1f} s with {args.concurrency} concurrent "
          f"clients: {stats['per_s']:.0f} requests/s, p50 {stats['p50_ms']:.1f} ms, "
          f"p99 {stats['p99_ms']:.1f} ms, {stats['errors']} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Index prediction events into OpenSearch: a log file, stdin or a CloudWatch Logs group.

    python app.py > service.log                                  # the service writes events...
    python -m monitoring.ship service.log                        # ...this indexes them
    python -m monitoring.ship - < service.log                    # the same, from stdin
    python -m monitoring.ship --cloudwatch /aws/lambda/cola-predict --since 60   # last hour
    OPENSEARCH_URL=https://search-...amazonaws.com OPENSEARCH_REGION=eu-west-1 \\
        python -m monitoring.ship service.log                    # Amazon OpenSearch (SigV4)

The shipping itself (retries, backoff, the dead letter) is shipper.py's. Events that cannot be
indexed go to the dead-letter file (monitoring.dead_letter), which this command ships again
later. Exit status: 0 all indexed (or already there), 1 some in the dead-letter file or lost,
2 an error (bad input or set-up).
"""

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from monitoring.shipper import FILTER_PATTERN, Shipper, dead_letter_file, make_client, read_events


def file_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as f:
        yield from f


def cloudwatch_lines(log_group: str, since_minutes: int) -> Iterator[str]:
    """The messages of a CloudWatch Logs group (a Lambda function's log) since some minutes."""
    import boto3

    start = int((time.time() - since_minutes * 60) * 1000)
    pages = boto3.client("logs").get_paginator("filter_log_events").paginate(
        logGroupName=log_group, startTime=start, filterPattern=FILTER_PATTERN)
    for page in pages:
        for event in page["events"]:
            yield event["message"]


def main(argv: list[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from config_schema import (
        CONFIG_ERRORS,
        add_override_option,
        check_monitoring,
        load_config,
    )

    parser = argparse.ArgumentParser(description="Index prediction events into OpenSearch.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="a log file with the events; - for stdin")
    source.add_argument("--cloudwatch", metavar="LOG_GROUP", help="read a CloudWatch Logs group")
    parser.add_argument("--since", type=int, default=60, metavar="MINUTES",
                        help="with --cloudwatch: how far back (default 60)")
    add_override_option(parser)
    args = parser.parse_args(argv)
    try:
        full = load_config(*args.set)
        check_monitoring(full)
        cfg = full.monitoring
        dead_letter = Path(cfg.dead_letter)
        if args.file and args.file != "-" and Path(args.file).resolve() == dead_letter.resolve():
            raise ValueError(f"{args.file} is the dead-letter file itself: move it first, then "
                             f"ship the moved file")
        if args.cloudwatch:
            lines = cloudwatch_lines(args.cloudwatch, args.since)
        elif args.file == "-":
            lines = sys.stdin
        else:
            lines = file_lines(Path(args.file))
        shipper = Shipper(make_client(cfg.opensearch, cfg.aws_region), dead_letter_file(
            dead_letter), cfg.ship.chunk_size, cfg.ship.retries, cfg.ship.backoff_s)
        counts = shipper.ship(read_events(lines))
    except (OSError, ValueError, BotoCoreError, ClientError, *CONFIG_ERRORS) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{counts}; {cfg.opensearch}, indices {shipper.prefix}-*")
    if counts.dead_letter:
        print(f"error: {counts.dead_letter} events could not be indexed: they are in "
              f"{dead_letter} (ship it again once OpenSearch is back)", file=sys.stderr)
    if counts.lost:
        print(f"error: {counts.lost} events are lost: {counts.lost_reason}", file=sys.stderr)
    if counts.dead_letter or counts.lost:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

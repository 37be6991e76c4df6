"""Prediction monitoring: what the service and the Lambda function record, and what reads it.

In the images (stdlib, opensearch-py and tokenizers only; each Dockerfile copies these alone):
    prediction_log.py   one JSON event per prediction, written by serving.py
    shipper.py          the shipping library: events into OpenSearch, retries, a dead letter
    log_forwarder.py    the Lambda function that ships the prediction function's log lines

On a workstation or in CI (numpy, scipy, matplotlib: never imported by the modules above):
    ship.py             the command: a log file, stdin or a CloudWatch group into OpenSearch
    dashboard.py        the dashboard's panels: saved objects for OpenSearch Dashboards, or a page
    drift.py            the statistics: reference vs recent inputs (KS, chi-square, PSI)
    reference.py        the reference: the exported model's view of the validation sentences
    drift_report.py     the daily check: recent events against the reference, an HTML report
    reports.py          the HTML pages and plots the two reports share
    opensearch_security.py   OpenSearch roles for the forwarder and the drift check, retention
    simulate_traffic.py      events like the training data, or drifted, to try it all offline

Run the commands from the week's folder: python -m monitoring.ship service.log
"""

"""Parses an OpenMetrics exposition from stdin with the reference parser (prometheus_client's
openmetrics parser, which refuses anything the OpenMetrics 1.0 spec does not allow, a missing
`# EOF` included) and prints its families as JSON: name, type, unit and samples. Exit 1 with
the parser's message on stderr when the text is not valid OpenMetrics."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

try:
    families = [
        {
            "name": f.name,
            "type": f.type,
            "unit": f.unit,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples],
        }
        for f in text_string_to_metric_families(sys.stdin.read())
    ]
except Exception as e:  # the parser raises ValueError and friends; all mean "invalid"
    print(f"invalid OpenMetrics: {e}", file=sys.stderr)
    sys.exit(1)
json.dump(families, sys.stdout)

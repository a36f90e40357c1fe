"""Entry point for ``spark-submit``: the driver of a cluster job is this file.

    spark-submit --master yarn learner/cli/spark_submit.py generate --engine spark s3a://... -o out/

Arguments are those of ``netpol-learner``; the master and settings come from spark-submit.
"""

from __future__ import annotations

import sys

from learner.cli.program import main

if __name__ == "__main__":
    sys.exit(main())

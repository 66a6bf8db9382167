"""Entry point for ``spark-submit``: ``veil run --engine spark`` on the cluster spark-submit
starts, with the same options as ``veil run``.

    spark-submit --master 'local[2]' "$(python -m veil.cli.spark_submit --path)" \\
        transactions.csv --policy sample --purpose credit_scoring -o credit.parquet
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--path"]:  # where this file is, for spark-submit's command line
        print(__file__)
        return
    from veil.cli.main import app

    app(["run", "--engine", "spark", *args], prog_name="veil run --engine spark")


if __name__ == "__main__":
    main()

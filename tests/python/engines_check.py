"""Q1-Q3 over a scout-audit Parquet export, with DuckDB or Spark.

    python engines_check.py duckdb|spark EXPORT_DIR NOW

Q1: nav events with ts in the 30 days before NOW; Q2: the sum of cost in
the 7 days before NOW; Q3: nav and validation_fail counts in the 30 days
before NOW. Prints one JSON object {"q1": n, "q2": x, "q3": [nav, fails]}.
Used by `cargo xtask export-check`.
"""

import json
import sys
from datetime import datetime, timedelta, timezone


def windows(now):
    t = datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(timezone.utc)
    return t - timedelta(days=30), t - timedelta(days=7)


def with_duckdb(path, now):
    import duckdb

    d30, d7 = windows(now)
    src = f"read_parquet('{path}/*/*.parquet', hive_partitioning = true)"
    con = duckdb.connect()
    q1 = con.execute(f"select count(*) from {src} where event = 'nav' and ts >= ?", [d30]).fetchone()[0]
    q2 = con.execute(f"select sum(cost) from {src} where ts >= ?", [d7]).fetchone()[0]
    q3 = con.execute(
        f"select count(*) filter (where event = 'nav'), count(*) filter (where event = 'validation_fail') "
        f"from {src} where ts >= ?",
        [d30],
    ).fetchone()
    return {"q1": q1, "q2": q2, "q3": list(q3)}


def with_spark(path, now):
    from pyspark.sql import SparkSession, functions as F

    d30, d7 = windows(now)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("scout-audit-export-check")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(path)
    q1 = df.filter((F.col("event") == "nav") & (F.col("ts") >= F.lit(d30))).count()
    q2 = df.filter(F.col("ts") >= F.lit(d7)).agg(F.sum("cost")).collect()[0][0]
    w = df.filter(F.col("ts") >= F.lit(d30))
    q3 = [w.filter(F.col("event") == "nav").count(), w.filter(F.col("event") == "validation_fail").count()]
    spark.stop()
    return {"q1": q1, "q2": q2, "q3": q3}


def main():
    engine, path, now = sys.argv[1:4]
    fn = {"duckdb": with_duckdb, "spark": with_spark}[engine]
    print(json.dumps(fn(path, now)))


if __name__ == "__main__":
    main()

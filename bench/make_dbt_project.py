"""Write a synthetic dbt-duckdb project with N models in a layered DAG, for benchmarks.

    python bench/make_dbt_project.py N OUT_DIR [--seed S] [--warehouse duckdb|postgres]

The project: four tiny seeds, one staging view per seed, then layers of models that each
join two upstream models, aggregate one (``group by``) or pass one through CTEs with
``select *``. Every model keeps the same five columns (``id``, ``grp``, ``amount``, ``qty``,
``label``) with ``id`` unique, so any model can be joined to any other and every
``unique``/``not_null`` test passes. Some models are tables, some views, a few ephemeral; every
tenth model is documented and tested. The data is a few dozen rows, so dbt's own work per node
is as small as it gets and the cost of lineage is visible.

The project carries its own ``profiles.yml`` (profile ``bench``, 2 threads) whose DuckDB path is
``$BENCH_DUCKDB_PATH`` (default ``bench.duckdb``). Keep that file's stem ``bench``: DuckDB names
the database after it and dbt freezes the name at parse time. The output is a pure function of
``N`` and the seed. The profile also has a ``postgres`` target (dbt-postgres, from the
``FLOE_PG_*`` variables as the template's profile reads them); ``--warehouse postgres`` writes
the one type DuckDB and PostgreSQL spell differently (``double precision`` for DuckDB's
``double``); the projects are otherwise the same.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
from pathlib import Path

SEEDS = ("customers", "orders", "products", "payments")
SEED_ROWS = 40
COLUMNS = ("id", "grp", "amount", "qty", "label")
TESTED_EVERY = 10
"""Every tenth model gets a description, column docs and unique + not_null tests on ``id``."""

PROFILES = """\
bench:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('BENCH_DUCKDB_PATH', 'bench.duckdb') }}"
      threads: 2
    postgres:
      type: postgres
      host: "{{ env_var('FLOE_PG_HOST', 'localhost') }}"
      port: "{{ env_var('FLOE_PG_PORT', '5432') | as_number }}"
      user: "{{ env_var('FLOE_PG_USER', 'floe') }}"
      password: "{{ env_var('FLOE_PG_PASSWORD', '') }}"
      dbname: "{{ env_var('FLOE_PG_DATABASE', 'bench') }}"
      schema: "{{ env_var('FLOE_PG_SCHEMA', 'main') }}"
      threads: 2
"""
FLOAT_TYPE = {"duckdb": "double", "postgres": "double precision"}

DBT_PROJECT = """\
name: bench
version: "1.0.0"
config-version: 2
profile: bench

model-paths: ["models"]
seed-paths: ["seeds"]
clean-targets: ["target", "dbt_packages"]

models:
  bench:
    +materialized: table
    staging:
      +materialized: view
"""


def staging_sql(seed: str, index: int, float_type: str = "double") -> str:
    return f"""\
with source as (
    select * from {{{{ ref('raw_{seed}') }}}}
)

select
    id,
    (id * {index + 3}) % 7 as grp,
    cast(value as {float_type}) as amount,
    qty,
    upper(name) as label
from source
"""


def join_sql(left: str, right: str) -> str:
    return f"""\
with a as (
    select * from {{{{ ref('{left}') }}}}
),

b as (
    select * from {{{{ ref('{right}') }}}}
)

select
    a.id,
    a.grp,
    a.amount + coalesce(b.amount, 0) as amount,
    a.qty * 2 + coalesce(b.qty, 0) as qty,
    concat(a.label, '-', coalesce(b.label, '')) as label
from a
left join b on a.id = b.id
"""


def aggregate_sql(upstream: str, buckets: int) -> str:
    return f"""\
select
    grp as id,
    grp % {buckets} as grp,
    sum(amount) as amount,
    count(*) as qty,
    max(label) as label
from {{{{ ref('{upstream}') }}}}
group by grp
"""


def passthrough_sql(upstream: str, threshold: int) -> str:
    return f"""\
with source as (
    select * from {{{{ ref('{upstream}') }}}}
),

kept as (
    select * from source
    where qty >= {threshold} or amount is not null
)

select * from kept
"""


def model_yaml(name: str, kind: str, owner: str) -> str:
    return f"""\
  - name: {name}
    description: "Synthetic {kind} model {name}."
    config:
      tags: ["bench", "{kind}"]
      meta:
        owner: "{owner}"
    columns:
      - name: id
        description: "Unique key."
        data_tests:
          - unique
          - not_null
      - name: amount
        description: "A measure."
"""


def seed_csv(seed: str, rng: random.Random) -> str:
    lines = ["id,name,value,qty"]
    for row in range(1, SEED_ROWS + 1):
        name = f"{seed[:3]}_{rng.randrange(1000):03d}"
        lines.append(f"{row},{name},{rng.randrange(1, 10_000) / 100},{rng.randrange(1, 50)}")
    return "\n".join(lines) + "\n"


def pick(rng: random.Random, previous: list[str], referable: list[str]) -> str:
    """An upstream model: mostly from the previous layer, sometimes from anywhere before."""
    return rng.choice(previous if rng.random() < 0.8 else referable)


def make_project(
    models: int, out_dir: Path, seed: int = 20240601, warehouse: str = "duckdb"
) -> dict[str, int]:
    """Write the project into ``out_dir`` (replacing what the generator wrote there before);
    returns counts of what it wrote. ``warehouse``: ``duckdb`` or ``postgres``, the SQL's
    dialect (one type name differs)."""
    if models < len(SEEDS):
        raise ValueError(f"at least {len(SEEDS)} models (one staging view per seed)")
    rng = random.Random(seed)
    for generated in ("models", "seeds"):
        shutil.rmtree(out_dir / generated, ignore_errors=True)
    (out_dir / "models" / "staging").mkdir(parents=True)
    (out_dir / "models" / "layers").mkdir(parents=True)
    (out_dir / "seeds").mkdir(parents=True)
    (out_dir / "dbt_project.yml").write_text(DBT_PROJECT)
    (out_dir / "profiles.yml").write_text(PROFILES)
    for seed_name in SEEDS:
        (out_dir / "seeds" / f"raw_{seed_name}.csv").write_text(seed_csv(seed_name, rng))

    counts = {"seeds": len(SEEDS), "models": 0, "tests": 0, "join": 0, "aggregate": 0}
    counts.update({"passthrough": 0, "view": len(SEEDS), "table": 0, "ephemeral": 0})
    staging = [f"stg_{s}" for s in SEEDS]
    for index, seed_name in enumerate(SEEDS):
        (out_dir / "models" / "staging" / f"stg_{seed_name}.sql").write_text(
            staging_sql(seed_name, index, FLOAT_TYPE[warehouse])
        )
    counts["models"] = len(staging)

    remaining = models - len(staging)
    width = max(4, round(2 * math.sqrt(max(remaining, 1))))
    layers: list[list[str]] = [staging]
    referable: list[str] = list(staging)
    yaml_blocks: list[str] = []
    number = 0
    while number < remaining:
        layer: list[str] = []
        previous = layers[-1]
        for _ in range(min(width, remaining - number)):
            number += 1
            name = f"m{number:05d}"
            kind = rng.choices(("join", "aggregate", "passthrough"), weights=(4, 2, 3))[0]

            if kind == "join":
                left = pick(rng, previous, referable)
                right = pick(rng, previous, referable)
                while right == left and len(referable) > 1:
                    right = rng.choice(referable)
                sql = join_sql(left, right)
            elif kind == "aggregate":
                sql = aggregate_sql(pick(rng, previous, referable), rng.randrange(3, 9))
            else:
                sql = passthrough_sql(pick(rng, previous, referable), rng.randrange(1, 30))
            tested = number % TESTED_EVERY == 0
            roll = rng.random()
            materialized = (
                "ephemeral" if roll < 0.03 and not tested else "view" if roll < 0.4 else "table"
            )
            if materialized != "table":
                sql = f"{{{{ config(materialized='{materialized}') }}}}\n\n{sql}"
            (out_dir / "models" / "layers" / f"{name}.sql").write_text(sql)
            counts[kind] += 1
            counts[materialized] += 1
            counts["models"] += 1
            if tested:
                yaml_blocks.append(model_yaml(name, kind, f"team-{rng.randrange(5)}"))
                counts["tests"] += 2
            layer.append(name)
            referable.append(name)
        layers.append(layer)
    (out_dir / "models" / "layers" / "layers.yml").write_text(
        "version: 2\n\nmodels:\n" + "".join(yaml_blocks)
        if yaml_blocks
        else "version: 2\n\nmodels: []\n"
    )
    counts["layers"] = len(layers)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=int, help="number of dbt models (staging views included)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--warehouse", choices=sorted(FLOAT_TYPE), default="duckdb")
    args = parser.parse_args(argv)
    counts = make_project(args.models, args.out_dir, args.seed, args.warehouse)
    print(", ".join(f"{key}: {value}" for key, value in counts.items()))


if __name__ == "__main__":
    main()

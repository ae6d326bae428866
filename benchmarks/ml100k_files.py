"""ML-100K's u1 split as a user would upload it: u1.base and u1.test with the side features of
``u.user`` (age, gender, occupation) and ``u.item`` (genres as 'A|B') joined in, written as two CSV
files with a header line (the data's terms forbid committing them: write them outside the repo).

    python -m benchmarks.ml100k_files --data ../shared/data/ml-100k-grouplens --out /tmp/ml100k
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.ml100k_cf import read_ratings, side_features


def write_split(data_dir: Path, out: Path, fold: int = 1) -> tuple[Path, Path]:
    """(train CSV, test CSV) of fold ``fold``: user_id, item_id, rating, timestamp, age, gender,
    occupation, genres."""
    users, items = side_features(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for part in ("base", "test"):
        frame = read_ratings(data_dir / f"u{fold}.{part}").merge(users, on="user_id", how="left")
        path = out / f"u{fold}_{part}.csv"
        frame.merge(items, on="item_id", how="left").to_csv(path, index=False)
        paths.append(path)
    return paths[0], paths[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the ml-100k folder (u.user, u.item, u1.base, ...)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fold", type=int, default=1)
    for path in write_split(parser.parse_args().data, parser.parse_args().out, parser.parse_args().fold):
        print(path)


if __name__ == "__main__":
    main()

"""The best published recipes of this model (config ``peers``) beside the retrain of our choice:
each recipe trained on the user's data with this project's code over seeds, in
results/peers/{peer}[_seed{seed}]/, and compared with our retrain (results/improve/best[...]) on
the same test images: the spread over seeds of each, and our test accuracy minus the recipe's,
paired over the seeds and the images (``stats.paired_difference``). A recipe's published number
was measured on the official archive, and is shown apart, not compared.
"""

from __future__ import annotations

from pathlib import Path

from onelayer import stats
from onelayer.atomic import write_text
from onelayer.dataset import Dataset
from onelayer.replicates import group, paired
from onelayer.tables import Column, markdown, rounded, write

COLUMNS = [
    Column("recipe"), Column("source"), Column("description"), Column("published", float),
    Column("seeds", int), Column("test_mean", float), Column("test_sd", float),
    Column("test_min", float), Column("test_max", float), Column("ours_minus", float),
    Column("ours_low", float), Column("ours_high", float),
]  # fmt: skip
OURS = "ours"


def comparison_rows(ours_paths: list, peer_paths: list, peers: dict, data_path) -> list[dict]:
    """Our retrain's row, then one per published recipe (in config order), each over its seeds;
    on a recipe's row, our test accuracy minus its, paired."""
    (ours,) = group(ours_paths).values()
    by_name = {Path(g.folder).name: g for g in group(peer_paths).values()}
    dataset = Dataset.load(data_path)

    def row(name, reps, source="", description="", published=None):
        s = reps.spread()
        return {"recipe": name, "source": source, "description": description,
                "published": published, "seeds": s.n, "test_mean": rounded(s.mean),
                "test_sd": rounded(s.sd), "test_min": s.min if s.n else None,
                "test_max": s.max if s.n else None}  # fmt: skip

    m = ours.own or next(iter(ours.runs.values()))[1]
    mine = ", ".join(f"{k} {m[k]:g}" for k in ("lam", "eta", "n_batch", "n_epochs"))
    rows = [row(OURS, ours, "this pipeline (improve)", f"the retrain of the choice: {mine}")]
    for name, peer in peers.items():
        r = row(name, by_name[name], peer["source"], peer["recipe"], peer["published"])
        d = paired(ours, by_name[name], dataset)
        if d is not None:
            r.update(ours_minus=rounded(d.estimate), ours_low=rounded(d.low), ours_high=rounded(d.high))
        rows.append(r)
    return rows


def _spread(r: dict) -> str:
    if not r["seeds"]:
        return "diverged"
    sd = "" if r["test_sd"] is None else f" ± {r['test_sd']:.2f}"
    return f"{r['test_mean']:.2f}{sd} ({r['seeds']} seeds, {r['test_min']:.2f} to {r['test_max']:.2f})"


def _versus(r: dict) -> str:
    if r.get("ours_minus") is None:
        return "–"
    d = stats.Difference(r["ours_minus"], r["ours_low"], r["ours_high"], 0, 0, r["seeds"], 0)
    return stats.difference_words(d)


SHOWN = [Column("recipe"), Column("source"), Column("description", header="recipe, as published"),
         Column("spread", header="test % here, mean ± sd", right=True),
         Column("published", header="published % (official archive)", fmt=".2f", right=True),
         Column("versus", header="ours minus it, paired (95 % interval)")]  # fmt: skip


def comparison_markdown(rows: list[dict]) -> str:
    cells = [{**r, "spread": _spread(r), "versus": _versus(r)} for r in rows]
    return markdown(cells, SHOWN)


def write_comparison(ours_paths: list, peer_paths: list, peers: dict, data_path, out_csv, out_md,
                     figure) -> list[dict]:  # fmt: skip
    from onelayer import plots

    rows = comparison_rows(list(ours_paths), list(peer_paths), peers, data_path)
    write(rows, COLUMNS, out_csv)
    write_text(out_md, "# Published recipes, trained here\n\n" + comparison_markdown(rows))
    plots.peer_bars(rows, figure)
    return rows

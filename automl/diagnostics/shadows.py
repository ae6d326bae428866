"""Interactions, not shadows: a pair ranking folded with the fields' dependencies
(``automl.features.dependencies``: item_id -> category).

- A pair of a field with one it determines (item_id × category) is no interaction: the determined
  field is a function of the other, so whatever the two do "together" is an effect of the source alone.
  It is dropped from the ranking and kept as ``not_interactions``.
- A pair (X, S) where S determines D is measured twice: as usual, and conditioned (S's reference
  value drawn from a row with S's own D, so what D carries is held fixed; both fields conditioned when
  both determine others). It is a shadow of the pair of the fields they determine, (X, D), when it was
  seen at all (band above 0) and what is left once D is fixed is small: the conditioned strength is at
  most ``SHADOW_SHARE`` of the unconditioned one, or its band reaches 0 (±2 standard errors over the
  repeats: no evidence of an interaction of S beyond D). ``SHADOW_SHARE`` = 1/2: D carries the larger
  part of what the pair shows, so the pair is reported where most of it lies. A genuine X × item_id
  interaction (items of one category acting differently) keeps nearly all its strength when items are
  swapped within their category (a category holds many items), so it stays a pair of its own.
- A shadow is reported under its source: of the pairs its fields and their determined fields form,
  the strongest seen (band above 0) that is no shadow itself; when none is seen, the pair of the
  determined fields of both (user_id × item_id -> segment × category). A source's folded strength is the largest of its own and its
  shadows' (one interaction, seen most strongly through whichever field), with that one's band; the
  shadows' own numbers are kept (``also``) and count for nothing else.

An alias (two fields that determine each other) is one field under two names: only the later field
(in the data's order) is conditioned on the earlier one, so a pair with the later one folds under the
earlier one's.
"""

from __future__ import annotations

from itertools import product

from automl.diagnostics.results import (
    Band,
    DependencyInfo,
    FoldedPairs,
    NotInteraction,
    PairBand,
    ShadowPair,
)
from automl.features.dependencies import Dependency, aliases

SHADOW_SHARE = 0.5


def named_dependencies(dependencies: list[Dependency] | tuple, names: list[str]) -> list[DependencyInfo]:
    """The maps between the fields ``names`` (``Dependency`` or (source, determined, share) index triples) by
    name; of an alias, only the later field -> the earlier one, flagged."""
    deps = [d if isinstance(d, Dependency) else Dependency(*d) for d in dependencies]
    both = aliases(deps)
    return [DependencyInfo(source=names[d.source], determined=names[d.determined], share=d.share,
                           alias=frozenset((d.source, d.determined)) in both)
            for d in deps if not (frozenset((d.source, d.determined)) in both and d.source < d.determined)]


def determined_by(dependencies: list[DependencyInfo]) -> dict[str, list[str]]:
    """Field -> the fields it determines (an alias: the later field only determines the earlier one)."""
    out: dict[str, list[str]] = {}
    for d in dependencies:
        out.setdefault(d["source"], []).append(d["determined"])
    return out


def dependent(a: str, b: str, dependencies: list[DependencyInfo]) -> DependencyInfo | None:
    """The map between ``a`` and ``b`` either way, None when there is none."""
    return next((d for d in dependencies if {d["source"], d["determined"]} == {a, b}), None)


def conditions(pair: list[str], dependencies: list[DependencyInfo]) -> dict[str, list[str]]:
    """Of the two fields of a pair that is an interaction candidate: field -> the fields its reference value
    must share (those it determines); empty when neither determines any."""
    below = determined_by(dependencies)
    return {f: below[f] for f in pair if below.get(f)}


def is_shadow(raw: Band, conditioned: Band) -> bool:
    """The module docstring's rule."""
    return raw["low"] > 0 and (conditioned["strength"] <= SHADOW_SHARE * raw["strength"] or conditioned["low"] <= 0)


def fold(pairs: list[PairBand], conditioned: dict[frozenset, Band],
         dependencies: list[DependencyInfo]) -> FoldedPairs:
    """``pairs`` (strongest first) with ``conditioned`` (pair -> its conditioned band, for the pairs that have
    one) folded by the module docstring's rules: {"folded": the interactions, strongest first, each with the
    shadows it carries (``also``); "shadows": every conditioned pair with its numbers and source (None: it
    stands on its own); "not_interactions"}."""
    below = determined_by(dependencies)
    measured = {frozenset(p["fields"]): p for p in pairs}
    not_interactions: list[NotInteraction] = []
    for p in pairs:
        link = dependent(*p["fields"], dependencies)
        if link is not None:
            reason = (f"{link['source']} and {link['determined']} are aliases" if link["alias"] else
                      f"{link['determined']} is determined by {link['source']}")
            not_interactions.append(NotInteraction(fields=p["fields"], strength=p["strength"], reason=reason))
    excluded = {frozenset(p["fields"]) for p in not_interactions}
    shadowed = {key for key, band in conditioned.items() if key in measured and key not in excluded
                and is_shadow(measured[key], band)}

    def source(key: frozenset, depth: int = 0) -> frozenset:
        a, b = sorted(key)
        options = [frozenset((x, y)) for x, y in product([a, *below.get(a, [])], [b, *below.get(b, [])])
                   if x != y and frozenset((x, y)) != key and dependent(x, y, dependencies) is None]
        seen = {o for o in options if o in measured and measured[o]["low"] > 0}
        found = sorted(options, key=lambda o: (o in shadowed, o not in seen,
                                               -measured[o]["strength"] if o in seen else -len(o - key)))
        chosen = found[0] if found else key
        return source(chosen, depth + 1) if chosen in shadowed and depth < len(measured) else chosen

    sources = {key: source(key) for key in shadowed}
    shadows = [ShadowPair(**measured[key], conditioned=band,
                          source=sorted(sources[key]) if key in sources else None)
               for key, band in conditioned.items() if key in measured and key not in excluded]
    folded: dict[frozenset, dict] = {key: {**p, "also": []} for key, p in measured.items()
                                     if key not in excluded and key not in shadowed}
    for key in sorted(shadowed, key=lambda k: -measured[k]["strength"]):
        target = folded.setdefault(sources[key], {"fields": sorted(sources[key]), "strength": 0.0, "low": 0.0,
                                                  "high": 0.0, "also": []})
        shadow = measured[key]
        target["also"].append({"fields": shadow["fields"], "strength": shadow["strength"]})
        if shadow["strength"] > target["strength"]:
            target.update(strength=shadow["strength"], low=shadow["low"], high=shadow["high"])
    return FoldedPairs(folded=sorted(folded.values(), key=lambda p: -p["strength"]), shadows=shadows,
                       not_interactions=not_interactions)

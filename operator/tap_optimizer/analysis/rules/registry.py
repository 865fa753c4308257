"""Every analysis rule behind one protocol, in one registry, as the composition's renderers are.

A rule says which CloudWatch measures it needs for a platform and what it concludes from them:
a list of outcomes (recommendations and findings). A new rule is one function of its module and
one line here; the engine asks the registry for the measures (each asked once, however many rules
share it) and for the outcomes, in the order of the phases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from tap_optimizer.analysis import queries
from tap_optimizer.analysis.inventory import Cache, Cluster, Fleet, Inventory, Table
from tap_optimizer.analysis.queries import Measure
from tap_optimizer.analysis.rules import cache, database, dynamodb, fleet
from tap_optimizer.analysis.rules.common import Context, Outcome

R = TypeVar("R", Table, Fleet, Cache, Cluster)


class Rule(Protocol):
    """The metrics a rule needs and the outcomes it returns, for the resources no tenant owns."""

    @property
    def name(self) -> str: ...

    def measures(self, inventory: Inventory) -> Iterable[Measure]: ...

    def outcomes(self, ctx: Context) -> list[Outcome]: ...


@dataclass(frozen=True)
class EachResource(Generic[R]):
    """A rule judging each resource of one kind on its own."""

    name: str
    resources: Callable[[Inventory], Sequence[R]]
    needs: Callable[[R], Iterable[Measure]]
    judge: Callable[[Context, R], list[Outcome]]

    def _owned(self, inventory: Inventory) -> list[R]:
        return [r for r in self.resources(inventory) if inventory.tenant_of(r.arn) is None]

    def measures(self, inventory: Inventory) -> Iterable[Measure]:
        return [m for r in self._owned(inventory) for m in self.needs(r)]

    def outcomes(self, ctx: Context) -> list[Outcome]:
        return [o for r in self._owned(ctx.inventory) for o in self.judge(ctx, r)]


@dataclass(frozen=True)
class AcrossResources(Generic[R]):
    """A rule judging the resources of one kind together (consolidation, secondary regions)."""

    name: str
    resources: Callable[[Inventory], Sequence[R]]
    needs: Callable[[R], Iterable[Measure]]
    judge: Callable[[Context, list[R]], list[Outcome]]

    def measures(self, inventory: Inventory) -> Iterable[Measure]:
        return [m for r in self.resources(inventory) if inventory.tenant_of(r.arn) is None for m in self.needs(r)]

    def outcomes(self, ctx: Context) -> list[Outcome]:
        return self.judge(ctx, [r for r in self.resources(ctx.inventory) if ctx.inventory.tenant_of(r.arn) is None])


def _primary(inventory: Inventory) -> tuple[Cluster, ...]:
    return (inventory.primary,) if inventory.primary is not None else ()


def _tables(inventory: Inventory) -> tuple[Table, ...]:
    return inventory.tables


def _fleets(inventory: Inventory) -> tuple[Fleet, ...]:
    return inventory.fleets


def _caches(inventory: Inventory) -> tuple[Cache, ...]:
    return inventory.caches


def _secondaries(inventory: Inventory) -> tuple[Cluster, ...]:
    return inventory.secondaries


def _with_table(needs: Callable[[Table], Iterable[Measure]]) -> Callable[[Table], Iterable[Measure]]:
    """A table rule's own measures and the table's (its metrics must be visible at all)."""
    return lambda t: [*queries.table_measures(t), *needs(t)]


RULES: tuple[Rule, ...] = (
    EachResource("unused-gsi", _tables, _with_table(queries.index_measures), dynamodb.unused_indexes),
    EachResource("unused-stream", _tables, _with_table(queries.stream_measures), dynamodb.unused_stream),
    AcrossResources("table-consolidation", _tables, queries.table_measures, dynamodb.consolidation),
    EachResource("compute-rightsize", _fleets, queries.fleet_measures, fleet.fleet),
    EachResource("cache-rightsize", _caches, queries.cache_measures, cache.cache_rightsize),
    EachResource("writer-rightsize", _primary, queries.writer_measures, database.writer),
    EachResource("reader-reduce", _primary, queries.reader_measures, database.readers),
    EachResource("backup-retention", _primary, queries.backup_measures, database.backup_retention),
    AcrossResources("secondary-region", _secondaries, queries.secondary_measures, database.secondary_regions),
)


def measures(inventory: Inventory, rules: Sequence[Rule] = RULES) -> list[Measure]:
    """Every measure the rules need, each once, in the rules' order."""
    return list(dict.fromkeys(m for rule in rules for m in rule.measures(inventory)))


def outcomes(ctx: Context, rules: Sequence[Rule] = RULES) -> list[Outcome]:
    """Every rule's outcomes, in the registry's order (the phases' order)."""
    return [o for rule in rules for o in rule.outcomes(ctx)]

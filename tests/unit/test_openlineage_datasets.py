"""The OpenLineage datasets and facets the operators hand the provider: pure builders, no services."""

from __future__ import annotations

from typing import Any

from openlineage.client.serde import Serde

from franz_ivan.lineage import (
    SourceApi,
    TableRows,
    Verdict,
    drain_lineage,
    publish_lineage,
    quality_lineage,
    with_inputs_of,
)

SERVER = "pg.example.com:5432"


def names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(dataset.namespace, dataset.name) for dataset in datasets]


def test_a_drain_reads_the_topic_and_writes_each_table_with_its_rows() -> None:
    lineage = drain_lineage(
        "kafka-1.example.com:9092",
        "crypto_prices",
        [TableRows(SERVER, "crypto_prices", "btcusd", 3), TableRows(SERVER, "crypto_prices", "ethusd", 1)],
    )
    assert names(lineage.inputs) == [("kafka://kafka-1.example.com:9092", "crypto_prices")]
    assert names(lineage.outputs) == [
        ("postgres://pg.example.com:5432", "crypto_prices.public.btcusd"),
        ("postgres://pg.example.com:5432", "crypto_prices.public.ethusd"),
    ]
    statistics = [Serde.to_dict(output.outputFacets["outputStatistics"]) for output in lineage.outputs]
    assert [facet["rowCount"] for facet in statistics] == [3, 1]
    assert statistics[0]["_schemaURL"].endswith(
        "OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"
    )


def test_a_publish_writes_the_topic_and_a_backfill_reads_the_source_api() -> None:
    live = publish_lineage("k:9092", "crypto_prices", 4)
    assert (live.inputs, names(live.outputs)) == ([], [("kafka://k:9092", "crypto_prices")])
    assert live.outputs[0].outputFacets["outputStatistics"].rowCount == 4
    before = publish_lineage("k:9092", "crypto_prices")
    assert before.outputs[0].outputFacets == {}, "no count before the task ran"

    backfill = publish_lineage(
        "k:9092", "crypto_prices", 2, [SourceApi("https://api.kraken.com/0", "kraken:kraken:btcusd")]
    )
    assert names(backfill.inputs) == [("https://api.kraken.com", "kraken:kraken:btcusd")]


def test_a_check_reads_its_tables_with_the_verdicts_as_assertions() -> None:
    btcusd, allowance = (
        TableRows(SERVER, "db", "btcusd"),
        TableRows(SERVER, "db", "cryptowatch_api_allowance"),
    )
    lineage = quality_lineage(
        {
            btcusd: [
                Verdict("spike", "kraken:kraken:btcusd", True, "0.4", "10"),
                Verdict("spike", "coinbase:coinbase:btcusd", False, "12", "10"),
            ],
            allowance: [],
        },
        topic=("k:9092", "crypto_prices"),
    )
    assert names(lineage.inputs) == [
        ("postgres://pg.example.com:5432", "db.public.btcusd"),
        ("postgres://pg.example.com:5432", "db.public.cryptowatch_api_allowance"),
        ("kafka://k:9092", "crypto_prices"),
    ]
    facet = Serde.to_dict(lineage.inputs[0].inputFacets["dataQualityAssertions"])
    assert [
        (a["assertion"], a["params"]["market"], a["success"], a["actual"]) for a in facet["assertions"]
    ] == [
        ("spike", "kraken:kraken:btcusd", True, "0.4"),
        ("spike", "coinbase:coinbase:btcusd", False, "12"),
    ]
    assert lineage.inputs[1].inputFacets == {}, "a table read with no verdict carries no assertion"
    assert lineage.outputs == []


def test_inputs_of_another_lineage_are_added_once() -> None:
    ours = quality_lineage(
        {TableRows(SERVER, "db", "crypto_prices_dead_letter"): [Verdict("dead_letters", "t", True)]}
    )
    parsed = quality_lineage(
        {
            TableRows(SERVER, "db", "crypto_prices_dead_letter"): [],
            TableRows(SERVER, "db", "crypto_prices_quality_results"): [],
        }
    )
    merged = with_inputs_of(ours, parsed)
    assert names(merged.inputs) == [
        ("postgres://pg.example.com:5432", "db.public.crypto_prices_dead_letter"),
        ("postgres://pg.example.com:5432", "db.public.crypto_prices_quality_results"),
    ]
    assert "dataQualityAssertions" in merged.inputs[0].inputFacets, "ours wins for a dataset both name"
    assert with_inputs_of(ours, None) is ours

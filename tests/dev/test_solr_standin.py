"""The test-only Solr stand-in evaluates the query subset CKAN sends exactly."""

from __future__ import annotations

from dev.solr_standin import Index, compile_query

DOCS = [
    {
        "id": "1",
        "index_id": "a",
        "name": "pop",
        "title": "Population by province",
        "site_id": "default",
        "state": "active",
        "entity_type": "package",
        "permission_labels": ["public"],
        "organization": "mps",
        "tags": ["census", "population"],
        "metadata_modified": "2026-01-02T00:00:00Z",
    },
    {
        "id": "2",
        "index_id": "b",
        "name": "visits",
        "title": "Hospital visits",
        "site_id": "default",
        "state": "deleted",
        "entity_type": "package",
        "permission_labels": ["creator-abc"],
        "organization": "moh",
        "tags": ["population"],
        "metadata_modified": "2026-03-02T00:00:00Z",
    },
]


def _ids(query: str) -> list[str]:
    pred = compile_query(query)
    return [d["id"] for d in DOCS if pred(d)]


def test_ckan_query_shapes() -> None:
    assert _ids('+entity_type:package AND +(id:"2" OR name:"2") AND +site_id:"default"') == ["2"]
    assert _ids('+permission_labels:("public" OR "creator-x")') == ["1"]
    assert _ids("+state:active") == ["1"]
    assert _ids("-state:active") == ["2"]
    assert _ids("NOT organization:mps") == ["2"]
    assert _ids("tags:population") == ["1", "2"]
    assert _ids("metadata_modified:[2026-02-01T00:00:00Z TO *]") == ["2"]
    assert _ids("*:*") == ["1", "2"]
    assert _ids("title:hospital") == ["2"]


def test_select_filters_sorts_pages_and_facets() -> None:
    index = Index(None)
    index.add([dict(d) for d in DOCS])
    result = index.select(
        {
            "q": ["population"],
            "defType": ["dismax"],
            "qf": ["name^4 title^4 tags^2 text"],
            "fq": ['+site_id:"default"'],
            "sort": ["score desc, metadata_modified desc"],
            "fl": ["id score"],
            "facet": ["true"],
            "facet.field": ["organization", "tags"],
            "facet.mincount": ["1"],
            "rows": ["1"],
        }
    )
    assert result["response"]["numFound"] == 2
    assert result["response"]["docs"] == [{"id": "2", "score": 1.0}]
    assert result["facet_counts"]["facet_fields"]["tags"] == ["population", 2, "census", 1]
    index.delete([], ['+entity_type:package AND +(id:"1" OR name:"1")'])
    assert index.select({"q": ["*:*"]})["response"]["numFound"] == 1


def test_text_is_found_with_or_without_vietnamese_diacritics_as_solr_folds_it() -> None:
    """CKAN's schema folds text fields to ASCII: "dân số", "dan so" and "DÂN SỐ" find one another;
    exact string fields (name, tags) stay exact."""
    doc = {"id": "vi", "title": "Dân số theo tỉnh, độ tuổi và giới tính", "name": "dan-so", "tags": ["dân số"]}
    for typed in ("dân", "dan", "DÂN", "tinh", "tỉnh", "do", "độ", '"dan so"', '"Dân số"'):
        assert compile_query(f"title:{typed}")(doc), typed
        assert compile_query(typed)(doc), typed  # the catch-all text field
    assert not compile_query("title:dam")(doc)
    assert compile_query('tags:"dân số"')(doc) and not compile_query('tags:"dan so"')(doc)

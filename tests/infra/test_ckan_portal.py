"""The local CKAN 2.12 with the Solr stand-in does what the publisher and researchers need."""

from __future__ import annotations

import uuid

import ckanapi
import pytest
import requests


@pytest.fixture(scope="module")
def portal(ckan_portal) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token)


def test_create_upload_search_patch_purge(portal, ckan_portal, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    org = portal.action.organization_create(name=f"org-{tag}", title=f"Org {tag}")
    csv = tmp_path / "cells.csv"
    csv.write_bytes("province,population\nHà Nội,12\n".encode())
    # The portal's scheming schema (ckanext-lakehouse) is active: a description is required.
    with pytest.raises(ckanapi.ValidationError, match="notes"):
        portal.action.package_create(name=f"ds-{tag}", title="Dân số thử nghiệm", owner_org=org["id"])
    try:
        pkg = portal.action.package_create(
            name=f"ds-{tag}",
            title="Dân số thử nghiệm",
            notes="Bản thử nghiệm.",
            owner_org=org["id"],
            tags=[{"name": "population"}, {"name": tag}],
        )
        with csv.open("rb") as fh:
            res = portal.action.resource_create(package_id=pkg["id"], name="cells.csv", format="CSV", upload=fh)
        assert requests.get(res["url"], timeout=30).content == csv.read_bytes()

        found = portal.action.package_search(fq=f"organization:org-{tag}", **{"facet.field": ["organization", "tags"]})
        assert found["count"] == 1 and found["results"][0]["name"] == f"ds-{tag}"
        assert found["search_facets"]["tags"]["items"] and {
            i["name"] for i in found["search_facets"]["tags"]["items"]
        } == {
            "population",
            tag,
        }
        assert portal.action.package_search(q="thử nghiệm", fq=f"tags:{tag}")["count"] == 1

        portal.action.package_patch(id=pkg["id"], notes="patched")
        assert portal.action.package_show(id=pkg["id"])["notes"] == "patched"
        jsonld = requests.get(f"{ckan_portal.url}/dataset/ds-{tag}.jsonld", timeout=30)
        assert jsonld.status_code == 200 and "Dân số thử nghiệm" in jsonld.text
        assert requests.get(f"{ckan_portal.url}/organization/org-{tag}", timeout=30).status_code == 200
    finally:
        portal.action.dataset_purge(id=f"ds-{tag}")
        portal.action.organization_purge(id=org["id"])
    assert portal.action.package_search(fq=f"tags:{tag}")["count"] == 0

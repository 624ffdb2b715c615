"""Publishing to a real CKAN 2.12: idempotent, incremental, staged, withdrawn, DCAT-AP 3 conformant."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import ckanapi
import frictionless
import pytest
import rdflib
import requests

from publish import dcat
from publish.ckan_api import CkanApi
from publish.ckan_portal import PortalUnavailable, UploadTooLarge, publish_dataset, withdraw_orphans
from publish.disclosure import DisclosureError


def _by_name(package: dict) -> dict[str, dict]:
    return {r["name"]: r for r in package["resources"]}


def test_create_republish_change_and_keep_other_fields(env) -> None:
    env.write_gold([12, None, 40])
    portal = env.portal()
    first = publish_dataset(env.settings, env.ds, portal=portal)
    assert first.action == "create" and len(first.uploaded) == env.published_files == portal.uploads
    package = env.package()
    assert package["version"] == "0" and not package["private"]
    assert package["title_vi"].startswith("Dân số") and package["contact"][0]["email"].endswith(".example")
    assert package["organization"]["title"] == "Ministry of Public Security"
    # upstream lake tables of the dbt model (none exist in this test's lake: Delta version null)
    assert set(json.loads(package["provenance_inputs"])) <= {"bronze/population/citizen", "silver/population/residents"}
    assert package["disclosure_verdict"] == "passed" and package["provenance_dbt_model"] == env.ds.dbt_model
    assert package["temporal_coverage"][0]["start"].startswith("2025-07-01")
    # An editor adds a documentation link on the portal; the publisher must not wipe it.
    env.ckan.action.package_patch(id=package["id"], documentation=["https://example.org/method"])

    again_portal = env.portal()
    again = publish_dataset(env.settings, env.ds, portal=again_portal)
    assert again.action == "skip" and again.uploaded == [] and again_portal.uploads == 0
    assert env.package()["metadata_modified"] == env.ckan.action.package_show(id=env.ds.name)["metadata_modified"]

    env.write_gold([12, None, 50], mode="overwrite")  # moves of 1..9 are refused (release difference)
    changed_portal = env.portal()
    changed = publish_dataset(env.settings, env.ds, portal=changed_portal)
    names = {f.split(".", 1)[-1] for f in changed.uploaded}
    # the data dictionary comes from the contract alone: unchanged, not re-uploaded
    assert changed.action == "update" and changed_portal.uploads == 5 and "dictionary.csv" not in names
    after = env.package()
    assert after["version"] == "1" and after["lake_gold_version"] == "1"
    assert after["documentation"] == ["https://example.org/method"]  # other fields intact
    assert after["id"] == package["id"] and len(after["resources"]) == env.published_files
    kept = _by_name(package)[f"{env.ds.name}.dictionary.csv"]["id"]
    assert _by_name(after)[f"{env.ds.name}.dictionary.csv"]["id"] == kept


def test_every_resource_downloads_byte_identical_and_the_datapackage_validates(env, tmp_path) -> None:
    env.write_gold([12, None, 40, None])
    publish_dataset(env.settings, env.ds)
    local = env.exported()
    resources = env.package()["resources"]
    assert sorted(r["name"] for r in resources) == sorted(local)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for r in resources:
        body = requests.get(r["url"], timeout=30).content
        assert body == local[r["name"]].read_bytes(), r["name"]
        assert r["hash"] == __import__("hashlib").sha256(body).hexdigest()
        (downloads / r["name"]).write_bytes(body)
    csv = local[f"{env.ds.name}.csv"].read_bytes()
    assert csv.startswith(b'"province_code_2025","province_name_2025"') and b"\r\n" in csv  # RFC 4180
    # What a researcher downloads is a valid Frictionless data package (schema, types, hash, keys).
    report = frictionless.validate(str(downloads / "datapackage.json"))
    assert report.valid, report.flatten(["type", "message"])
    dictionary = (downloads / f"{env.ds.name}.dictionary.csv").read_text()
    assert "unit" in dictionary.splitlines()[0] and "male | female" in dictionary and "Số dân" in dictionary


def test_dcat_output_conforms_to_dcat_ap_3(env) -> None:
    env.write_gold([12, None, 40])
    publish_dataset(env.settings, env.ds)
    found = dcat.portal_violations(env.settings.ckan_url, [env.ds.name])
    assert found == {f"/dataset/{env.ds.name}.ttl": [], "/catalog.ttl": []}
    jsonld = requests.get(f"{env.settings.ckan_url}/dataset/{env.ds.name}.jsonld", timeout=30).text
    graph = rdflib.Graph().parse(data=jsonld, format="json-ld")
    assert dcat.violations(graph.serialize(format="turtle")) == []
    dcat_ns = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    dct = rdflib.Namespace("http://purl.org/dc/terms/")
    media = {str(m) for m in graph.objects(None, dcat_ns.mediaType)}
    assert "https://www.iana.org/assignments/media-types/text/csv" in media
    assert {str(f) for f in graph.objects(None, dct["format"])} >= {
        "http://publications.europa.eu/resource/authority/file-type/CSV",
        "http://publications.europa.eu/resource/authority/file-type/PARQUET",
    }
    for predicate in (dct.publisher, dct.temporal, dct.spatial, dct.accrualPeriodicity, dcat_ns.contactPoint):
        assert list(graph.objects(None, predicate)), predicate
    assert list(graph.objects(None, dct.license))


def test_dry_run_prints_the_plan_and_changes_nothing(env) -> None:
    env.write_gold([12, None, 40])
    plan = publish_dataset(env.settings, env.ds, dry_run=True)
    assert plan.action == "create" and {s.action for s in plan.steps} == {"create"}
    with pytest.raises(ckanapi.NotFound):
        env.package()
    publish_dataset(env.settings, env.ds)
    before = env.package()
    env.write_gold([12, None, 50], mode="overwrite")
    portal = env.portal()
    plan = publish_dataset(env.settings, env.ds, dry_run=True, portal=portal)
    actions = {s.target: s.action for s in plan.steps}
    assert actions[f"{env.ds.name}.csv"] == "update" and actions[f"{env.ds.name}.dictionary.csv"] == "skip"
    assert actions["metadata"] == "update" and any("update" in line for line in plan.lines())
    assert portal.uploads == 0 and env.package() == before


def test_withdrawn_contract_marks_the_dataset_deleted_not_purged(env) -> None:
    env.write_gold([12, None, 40])
    publish_dataset(env.settings, env.ds)
    dry = withdraw_orphans(env.settings, [env.ds], namespace=env.namespace)
    assert dry == []  # its contract is still there
    planned = withdraw_orphans(env.settings, [], dry_run=True, namespace=env.namespace)
    assert [(r.dataset, r.action) for r in planned] == [(env.ds.name, "delete")]
    assert env.package()["state"] == "active"
    withdraw_orphans(env.settings, [], namespace=env.namespace)
    package = env.package()  # still there for the record, with its files
    assert package["state"] == "deleted" and len(package["resources"]) == env.published_files
    again = publish_dataset(env.settings, env.ds)  # the contract comes back
    assert again.action == "update" and env.package()["state"] == "active" and again.uploaded == []


def test_the_gate_refuses_a_failing_dataset(env) -> None:
    env.write_gold([12, 3])
    folder = env.settings.var_dir / "publish" / env.ds.name
    check, report = r"every published population >= 10", re.escape(str(folder / f"{env.ds.name}.disclosure-report.md"))
    with pytest.raises(DisclosureError, match=rf"{env.ds.name} failed .*\(check: {check}\).*{report}.*below 10"):
        publish_dataset(env.settings, env.ds)
    with pytest.raises(ckanapi.NotFound):
        env.package()
    assert '"passed": false' in (folder / f"{env.ds.name}.disclosure-report.json").read_text()  # it says why


def test_missing_disclosure_summary_publishes_nothing(env) -> None:
    env.write_gold_without_summary([12, 40])
    with pytest.raises(DisclosureError, match=r"no disclosure summary"):
        publish_dataset(env.settings, env.ds)
    with pytest.raises(ckanapi.NotFound):
        env.package()


def test_a_file_over_the_upload_limit_is_a_clear_error_and_nothing_is_published(env) -> None:
    env.write_gold([12, None, 40])
    small = dataclasses.replace(env.settings, ckan_max_upload_mb=0.0001)
    expected = rf"dataset {env.ds.name}: {env.ds.name}\.csv is [\d,]+ bytes .* over the portal's upload limit"
    with pytest.raises(UploadTooLarge, match=expected + ".*nothing was changed"):
        publish_dataset(small, env.ds)
    with pytest.raises(ckanapi.NotFound):
        env.package()
    publish_dataset(env.settings, env.ds)
    env.write_gold([12, None, 57], mode="overwrite")
    before = env.package()
    with pytest.raises(UploadTooLarge, match=expected):
        publish_dataset(small, env.ds)
    assert env.package() == before


class _FlakyProxy(BaseHTTPRequestHandler):
    """Forwards to the real portal, answering 503 to the first `failures` requests."""

    target = ""
    failures = 0
    seen = 0

    def _forward(self) -> None:
        cls = type(self)
        cls.seen += 1
        if cls.failures > 0:
            cls.failures -= 1
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"Service Unavailable")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        upstream = requests.request(self.command, cls.target + self.path, data=body, headers=headers, timeout=60)
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", upstream.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    do_GET = do_POST = _forward

    def log_message(self, *args: object) -> None:
        pass


def test_5xx_answers_are_retried_with_backoff_then_a_clear_error(env) -> None:
    env.write_gold([12, None, 40])
    _FlakyProxy.target, _FlakyProxy.failures, _FlakyProxy.seen = env.settings.ckan_url, 3, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{server.server_port}"
    try:
        patient = CkanApi(proxy_url, env.settings.ckan_token(), retries=3, retry_seconds=0.05)
        result = publish_dataset(env.settings, env.ds, portal=patient)  # three 503s, then CKAN answers
        assert result.action == "create" and _FlakyProxy.seen > 3 and env.package()["version"] == "0"
        _FlakyProxy.failures = 100
        impatient = CkanApi(proxy_url, env.settings.ckan_token(), retries=2, retry_seconds=0.05)
        with pytest.raises(
            PortalUnavailable, match=rf"dataset {env.ds.name}: CKAN at .* failed \w+ after 3 attempts: HTTP 503"
        ):
            publish_dataset(env.settings, env.ds, portal=impatient)
    finally:
        server.shutdown()


def test_ckan_stopped_mid_run_leaves_the_old_release_and_the_rerun_converges(env, ckan_portal, monkeypatch) -> None:
    env.write_gold([12, None, 40])
    publish_dataset(env.settings, env.ds)
    old = env.package()
    env.write_gold([12, None, 54], mode="overwrite")
    real_upload = CkanApi.upload

    def upload_then_outage(self: CkanApi, *args: object, **kwargs: object) -> dict:
        if self.uploads == 2:
            ckan_portal.stop()  # the portal goes down after two staged files
        return real_upload(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(CkanApi, "upload", upload_then_outage)
    try:
        with pytest.raises(PortalUnavailable, match=rf"dataset {env.ds.name}: .*not reachable.*previous release"):
            publish_dataset(env.settings, env.ds)
    finally:
        ckan_portal.start()
    monkeypatch.setattr(CkanApi, "upload", real_upload)
    during = env.package()
    assert during["version"] == old["version"] == "0"  # no claim of the version that did not upload
    published = {n: r["hash"] for n, r in _by_name(old).items()}
    assert all(
        published[r["name"]] == r["hash"] for r in during["resources"] if r["id"] in {x["id"] for x in old["resources"]}
    )
    publish_dataset(env.settings, env.ds)  # the rerun repairs: staged leftovers go, the new release is whole
    after = env.package()
    local = env.exported()
    assert after["version"] == "1" and sorted(r["name"] for r in after["resources"]) == sorted(local)
    for r in after["resources"]:
        assert requests.get(r["url"], timeout=30).content == local[r["name"]].read_bytes()

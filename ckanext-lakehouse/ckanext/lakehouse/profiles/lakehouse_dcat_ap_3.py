"""DCAT-AP 3 output that conforms to the official DCAT-AP 3.0.1 SHACL shapes.

Runs after ckanext-dcat's euro_dcat_ap_3 profile (ckanext.dcat.rdf.profiles lists both) and fixes what
stock output gets wrong for our datasets:
- dct:format and dcat:mediaType as literals ("CSV", "text/csv") -> EU file-type and IANA media-type IRIs,
  so CKAN keeps its human-readable values for the web page and downloads;
- inherited licences untyped and of "unknown" IPR type -> dct:LicenseDocument of the known type;
- contact points typed vcard:Organization only -> also vcard:Kind (SHACL runs without RDFS inference);
- controlled-vocabulary IRIs (themes, publisher types) not typed skos:Concept -> typed;
- the catalogue without publisher or language IRI, its homepage untyped -> fixed from the portal's
  configuration;
adds how the release was made, as PROV: prov:wasGeneratedBy an activity (the dbt model's build) that
prov:used each lake table at the Delta version read (`provenance_inputs`);
and adds the release's quality measurements (the publisher's `quality_measurements`) as W3C DQV:
dqv:hasQualityMeasurement, each a dqv:QualityMeasurement of a metric with its value (and the source
table it is about).
"""

from __future__ import annotations

import json
from typing import Any

from ckan.plugins import toolkit
from ckanext.dcat.profiles import DCAT, DCT, FOAF, RDF, SKOS, VCARD, RDFProfile
from rdflib import BNode, Literal, Namespace, URIRef
from rdflib.namespace import RDFS, XSD
from rdflib.term import Node

DQV = Namespace("http://www.w3.org/ns/dqv#")
PROV = Namespace("http://www.w3.org/ns/prov#")
LAKE = "urn:lakehouse:lake:"  # a lake table at a Delta version: urn:lakehouse:lake:<zone path>@v<version>
METRIC = "urn:lakehouse:quality:metric:"  # publish/quality.py names the metrics
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
MEDIA_TYPE = "https://www.iana.org/assignments/media-types/"
LANGUAGE = "http://publications.europa.eu/resource/authority/language/"
# CKAN format label -> EU file-type authority code (Markdown has none: TXT with media type text/markdown).
FILE_TYPES = {"CSV": "CSV", "PARQUET": "PARQUET", "JSON": "JSON", "MARKDOWN": "TXT", "TXT": "TXT"}
LANGUAGES = {"en": "ENG", "vi": "VIE"}
# Labels of the controlled-vocabulary concepts we use (SHACL wants skos:prefLabel on every concept).
CONCEPT_LABELS = {
    "AGRI": "Agriculture, fisheries, forestry and food",
    "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport",
    "ENER": "Energy",
    "ENVI": "Environment",
    "GOVE": "Government and public sector",
    "HEAL": "Health",
    "INTR": "International issues",
    "JUST": "Justice, legal system and public safety",
    "REGI": "Regions and cities",
    "SOCI": "Population and society",
    "TECH": "Science and technology",
    "TRAN": "Transport",
    "NationalAuthority": "National authority",
    "Attribution": "Attribution",
    "ShareAlike": "Share-alike",
    "PublicDomain": "Public domain",
    "UnknownIPR": "Unknown IPR",
}
ADMS_LICENCE_TYPE = "http://purl.org/adms/licencetype/"
# ckanext-dcat types every inherited licence UnknownIPR; the open licences we publish under are known.
LICENCE_TYPES = {"cc-by": "Attribution", "cc-by-sa": "ShareAlike", "odc-by": "Attribution", "cc-zero": "PublicDomain"}


def _file_type(value: Node) -> URIRef | None:
    code = FILE_TYPES.get(str(value).strip().upper())
    return URIRef(FILE_TYPE + code) if code else None


def _media_type(value: Node) -> URIRef | None:
    text = str(value).strip().lower()
    return URIRef(MEDIA_TYPE + text) if text.count("/") == 1 and " " not in text else None


class LakehouseDCATAP3Profile(RDFProfile):
    """Post-processes the euro_dcat_ap_3 graph of a dataset and of the catalogue."""

    def _replace_literals(self, predicate: URIRef, to_iri: Any, rdf_class: URIRef) -> None:
        for subject, _, value in list(self.g.triples((None, predicate, None))):
            if not isinstance(value, Literal):
                continue
            iri = to_iri(value)
            self.g.remove((subject, predicate, value))
            if iri is not None:
                self.g.add((subject, predicate, iri))
                self.g.add((iri, RDF.type, rdf_class))

    def graph_from_dataset(self, dataset_dict: dict, dataset_ref: URIRef) -> None:
        for licence in list(self.g.objects(None, DCT.license)):
            self.g.add((licence, RDF.type, DCT.LicenseDocument))
        licence_type = LICENCE_TYPES.get(dataset_dict.get("license_id") or "")
        if licence_type:
            unknown = URIRef(ADMS_LICENCE_TYPE + "UnknownIPR")
            for licence in list(self.g.subjects(DCT.type, unknown)):
                self.g.remove((licence, DCT.type, unknown))
                self.g.add((licence, DCT.type, URIRef(ADMS_LICENCE_TYPE + licence_type)))
        # Uploaded files are direct downloads: say so (stock output gives only dcat:accessURL).
        for distribution, _, url in list(self.g.triples((None, DCAT.accessURL, None))):
            if "/download/" in str(url):
                self.g.add((distribution, DCAT.downloadURL, url))
        self._replace_literals(DCT["format"], _file_type, DCT.MediaTypeOrExtent)
        self._replace_literals(DCAT.mediaType, _media_type, DCT.MediaType)
        for contact in list(self.g.objects(dataset_ref, DCAT.contactPoint)):
            self.g.add((contact, RDF.type, VCARD.Kind))
        for predicate in (DCAT.theme, DCT.type):  # after the licence types above
            for concept in list(self.g.objects(None, predicate)):
                if isinstance(concept, URIRef):
                    self.g.add((concept, RDF.type, SKOS.Concept))
                    code = str(concept).rstrip("/").rsplit("/", 1)[-1]
                    if not list(self.g.objects(concept, SKOS.prefLabel)):
                        self.g.add((concept, SKOS.prefLabel, Literal(CONCEPT_LABELS.get(code, code), lang="en")))
        self._quality(dataset_dict, dataset_ref)
        self._provenance(dataset_dict, dataset_ref)

    def _provenance(self, dataset_dict: dict, dataset_ref: URIRef) -> None:
        try:
            inputs = json.loads(dataset_dict.get("provenance_inputs") or "{}")
        except ValueError:
            return
        if not inputs:
            return
        self.g.bind("prov", PROV)
        activity = BNode()
        model = dataset_dict.get("provenance_dbt_model") or "the dbt project"
        self.g.add((dataset_ref, PROV.wasGeneratedBy, activity))
        self.g.add((activity, RDF.type, PROV.Activity))
        label = f"dbt model {model} built gold Delta version {dataset_dict.get('lake_gold_version', '?')}"
        self.g.add((activity, RDFS.label, Literal(label, lang="en")))
        for path, version in sorted(inputs.items()):
            entity = URIRef(f"{LAKE}{path}@v{version}")
            self.g.add((activity, PROV.used, entity))
            self.g.add((entity, RDF.type, PROV.Entity))
            self.g.add((entity, RDFS.label, Literal(f"{path} (Delta version {version})")))

    def _quality(self, dataset_dict: dict, dataset_ref: URIRef) -> None:
        try:
            measured = json.loads(dataset_dict.get("quality_measurements") or "[]")
        except ValueError:
            return
        self.g.bind("dqv", DQV)
        for m in measured:
            node, metric = BNode(), URIRef(METRIC + str(m["metric"]))
            value = m["value"]
            literal = (
                Literal(value, datatype=XSD.boolean)
                if isinstance(value, bool)
                else Literal(str(value), datatype=XSD.decimal)
            )
            self.g.add((dataset_ref, DQV.hasQualityMeasurement, node))
            self.g.add((node, RDF.type, DQV.QualityMeasurement))
            self.g.add((node, DQV.isMeasurementOf, metric))
            self.g.add((metric, RDF.type, DQV.Metric))
            self.g.add((node, DQV.value, literal))
            if m.get("about"):
                self.g.add((node, DCT.description, Literal(f"source table {m['about']}")))

    def graph_from_catalog(self, catalog_dict: dict, catalog_ref: URIRef) -> None:
        g = self.g
        for homepage in list(g.objects(catalog_ref, FOAF.homepage)):
            g.add((homepage, RDF.type, FOAF.Document))
        for value in list(g.objects(catalog_ref, DCT.language)):
            if isinstance(value, Literal):
                g.remove((catalog_ref, DCT.language, value))
        for locale in toolkit.aslist(toolkit.config.get("ckan.locales_offered") or "en vi"):
            code = LANGUAGES.get(locale.split("_")[0])
            if code:
                g.add((catalog_ref, DCT.language, URIRef(LANGUAGE + code)))
                g.add((URIRef(LANGUAGE + code), RDF.type, DCT.LinguisticSystem))
        if not list(g.objects(catalog_ref, DCT.description)):
            g.add((catalog_ref, DCT.description, Literal(toolkit.config.get("ckan.site_title") or "Open data")))
        if not list(g.objects(catalog_ref, DCT.publisher)):
            name = toolkit.config.get("lakehouse.catalog_publisher_name")
            uri = toolkit.config.get("lakehouse.catalog_publisher_uri")
            if name and uri:
                publisher = URIRef(uri)
                g.add((catalog_ref, DCT.publisher, publisher))
                g.add((publisher, RDF.type, FOAF.Agent))
                g.add((publisher, FOAF.name, Literal(name)))

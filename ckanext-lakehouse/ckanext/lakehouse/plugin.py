"""The portal in the visitor's language: with the interface in Vietnamese (/vi/...), dataset pages and
search results show the Vietnamese title, description and keywords the publisher filled (`title_vi`,
`notes_vi`, `tags_vi`); in English, the English ones. Display only: the API returns every field as
stored (the keywords of both languages are tags, so either finds the dataset).

ckanext-fluent would be the usual way (one translated field per language), but its release on PyPI
(1.0.0) imports Pylons (gone since CKAN 2.9) and does not load on CKAN 2.12; its repository cannot be
installed here."""

from __future__ import annotations

import json
from typing import Any

import ckan.plugins as p
import ckan.plugins.toolkit as tk

SWAPPED = (("title", "title_vi"), ("notes", "notes_vi"))


def _on_a_page() -> bool:
    try:
        return not tk.request.path.startswith("/api")
    except (RuntimeError, AttributeError, TypeError):
        return False


def _in_vietnamese() -> bool:
    try:
        return tk.h.lang() == "vi" and not tk.request.path.startswith("/api")
    except (RuntimeError, AttributeError, TypeError):  # no request (CLI, background job)
        return False


def _vietnamese_tags(pkg: dict[str, Any]) -> set[str]:
    try:
        return set(json.loads(pkg.get("tags_vi") or "[]"))
    except (ValueError, TypeError):
        return set()


def localise(pkg: dict[str, Any]) -> dict[str, Any]:
    """The package as a Vietnamese reader sees it (the English text kept beside, as title_en/notes_en)."""
    for field, vietnamese in SWAPPED:
        if pkg.get(vietnamese):
            pkg[f"{field}_en"] = pkg.get(field)
            pkg[field] = pkg[vietnamese]
    return _only_tags(pkg, vietnamese=True)


def _only_tags(pkg: dict[str, Any], vietnamese: bool) -> dict[str, Any]:
    """The keywords of one language (a dataset without Vietnamese keywords keeps all its tags)."""
    vi = _vietnamese_tags(pkg)
    if vi and isinstance(pkg.get("tags"), list):
        pkg["tags"] = [t for t in pkg["tags"] if (t.get("name") in vi) == vietnamese]
    return pkg


class LanguagePlugin(p.SingletonPlugin):
    p.implements(p.IPackageController, inherit=True)

    def before_dataset_view(self, pkg_dict: dict[str, Any]) -> dict[str, Any]:
        if _in_vietnamese():
            return localise(pkg_dict)
        return _only_tags(pkg_dict, vietnamese=False) if _on_a_page() else pkg_dict

    def after_dataset_search(self, search_results: dict[str, Any], search_params: dict[str, Any]) -> dict[str, Any]:
        if _in_vietnamese():
            search_results["results"] = [localise(pkg) for pkg in search_results.get("results", [])]
        return search_results

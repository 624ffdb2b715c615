"""The portal in the visitor's language: with the interface in Vietnamese (/vi/...), dataset pages and
search results show the Vietnamese title and description the publisher filled (`title_vi`,
`notes_vi`); in English, the English ones. Display only: the API returns every field as stored.

ckanext-fluent would be the usual way (one translated field per language), but its release on PyPI
(1.0.0) imports Pylons (gone since CKAN 2.9) and does not load on CKAN 2.12; its repository cannot be
installed here."""

from __future__ import annotations

from typing import Any

import ckan.plugins as p
import ckan.plugins.toolkit as tk

SWAPPED = (("title", "title_vi"), ("notes", "notes_vi"))


def _in_vietnamese() -> bool:
    try:
        return tk.h.lang() == "vi" and not tk.request.path.startswith("/api")
    except (RuntimeError, AttributeError, TypeError):  # no request (CLI, background job)
        return False


def localise(pkg: dict[str, Any]) -> dict[str, Any]:
    """The package as a Vietnamese reader sees it (the English text kept beside, as title_en/notes_en)."""
    for field, vietnamese in SWAPPED:
        if pkg.get(vietnamese):
            pkg[f"{field}_en"] = pkg.get(field)
            pkg[field] = pkg[vietnamese]
    return pkg


class LanguagePlugin(p.SingletonPlugin):
    p.implements(p.IPackageController, inherit=True)

    def before_dataset_view(self, pkg_dict: dict[str, Any]) -> dict[str, Any]:
        return localise(pkg_dict) if _in_vietnamese() else pkg_dict

    def after_dataset_search(self, search_results: dict[str, Any], search_params: dict[str, Any]) -> dict[str, Any]:
        if _in_vietnamese():
            search_results["results"] = [localise(pkg) for pkg in search_results.get("results", [])]
        return search_results

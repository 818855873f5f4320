"""The admin speaks Simplified Chinese by default (Django's own strings and ours) with English one
click away on the language switcher."""

from __future__ import annotations

import re

from django.contrib import admin
from django.urls import reverse
from django.utils import translation

_CJK = re.compile(r"[\u4e00-\u9fff]")


def test_it_speaks_chinese_by_default(client, alice, community_a):
    client.force_login(alice)
    html = client.get(reverse("admin:communities_community_changelist")).content.decode()
    assert "<title>选择 小区 来修改 | afxq-portal</title>" in html  # Django's string, our model name
    assert "点位名称不一致" in html  # our column
    assert 'lang="zh-hans"' in html
    anonymous = client.__class__().get(reverse("admin:login")).content.decode()
    assert "用户名" in anonymous and "密码" in anonymous


def test_it_switches_to_english_and_back(client, alice, community_a):
    client.force_login(alice)
    response = client.post(reverse("set_language"), {"language": "en", "next": "/admin/"})
    assert response.status_code == 302
    html = client.get(reverse("admin:communities_community_changelist")).content.decode()
    assert "Select community to change" in html
    assert "Point name mismatches" in html
    assert "Filter" in html and "过滤器" not in html
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/admin/"})
    assert "选择 小区 来修改" in client.get(reverse("admin:communities_community_changelist")).content.decode()


def test_it_names_every_admin_model_in_chinese():
    with translation.override("zh-hans"):
        untranslated = [f"{model._meta.label}: {model._meta.verbose_name_plural}" for model in admin.site._registry
                        if not _CJK.search(str(model._meta.verbose_name_plural))
                        or not _CJK.search(str(model._meta.app_config.verbose_name))]
    assert untranslated == []


def _catalogues() -> list:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    return sorted([*root.glob("locale/*/LC_MESSAGES/django.po"), *root.glob("*/locale/*/LC_MESSAGES/django.po")])


_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdfr]|\{(\w*)\}")


def test_it_translates_every_string_with_the_same_placeholders():
    import polib

    catalogues = _catalogues()
    assert len(catalogues) >= 5  # the project's and one per app
    problems = []
    for path in catalogues:
        for entry in polib.pofile(str(path)):
            if entry.obsolete:
                continue
            translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
            if "fuzzy" in entry.flags or not all(translations):
                problems.append(f"{path.parent.parent.parent.parent.name}: untranslated {entry.msgid!r}")
                continue
            wanted = set(_PLACEHOLDER.findall(entry.msgid))
            for text in translations:
                if set(_PLACEHOLDER.findall(text)) - wanted or (not entry.msgid_plural and wanted - set(
                        _PLACEHOLDER.findall(text))):
                    problems.append(f"{path}: placeholders differ in {entry.msgid!r} → {text!r}")
    assert problems == []

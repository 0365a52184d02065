"""Dutch and English: complete catalogues, and pages with no untranslated text."""

import os
import re

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = os.path.dirname(os.path.dirname(__file__))
CATALOG_DIR = os.path.join(ROOT, "karn", "translations")


def load_catalog(lang: str):
    with open(os.path.join(CATALOG_DIR, lang, "LC_MESSAGES", "messages.po"), "rb") as f:
        return read_po(f)


def msgid(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def extracted_messages() -> set[str]:
    with open(os.path.join(ROOT, "babel.cfg")) as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {
        **DEFAULT_KEYWORDS,
        "_l": None,
        "lazy_gettext": None,
        "stored_text": None,
    }
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_text_in_the_code_is_in_the_dutch_catalogue():
    known = {msgid(m) for m in load_catalog("nl") if m.id}
    missing = extracted_messages() - known
    assert not missing, f"run `make extract-messages` and translate: {sorted(missing)}"


def test_every_dutch_message_is_translated_and_not_fuzzy():
    catalog = load_catalog("nl")
    assert not catalog.fuzzy
    untranslated = [
        msgid(m)
        for m in catalog
        if m.id
        and (
            not m.string
            or m.fuzzy
            or (isinstance(m.string, tuple) and not all(m.string))
        )
    ]
    assert untranslated == []


def test_placeholders_survive_translation():
    for message in load_catalog("nl"):
        if message.id and isinstance(message.id, str):
            assert set(re.findall(r"%\(\w+\)\w", message.id)) == set(
                re.findall(r"%\(\w+\)\w", message.string)
            ), message.id


def _distinctive_pairs():
    """(English, Dutch) texts that differ and are long enough to spot on a page."""
    pairs = []
    for message in load_catalog("nl"):
        if message.id and isinstance(message.id, str) and "%(" not in message.id:
            if message.id != message.string and len(message.id) >= 8:
                pairs.append((message.id, message.string))
    return pairs


ADMIN_PAGES = [
    "/overview",
    "/account",
    "/admin/users",
    "/admin/users/new",
    "/admin/api-keys",
    "/admin/audit",
    "/no-such-page",
    "/customers/",
    "/customers/new",
    "/customers/import",
    "/analysis/",
    "/analysis/trends",
    "/analysis/segments",
    "/analysis/text",
    "/actions/",
    "/actions/new",
    "/digest",
    "/admin/outbox",
    "/admin/settings",
    "/admin/suppressions",
    "/surveys/",
    "/privacy/admin",
    "/privacy/notice/edit",
    "/feedback/",
    "/feedback/new",
    "/feedback/channels",
    "/feedback/channels/manage",
    "/feedback/import",
]


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_pages_speak_one_language(lang, app, client, create_user, login):
    from markupsafe import escape

    pairs = _distinctive_pairs()
    admin = create_user("admin")
    pages = {"/login": client.get(f"/login?lang={lang}").get_data(as_text=True)}
    login(admin)
    for url in ADMIN_PAGES:
        pages[url] = client.get(f"{url}?lang={lang}").get_data(as_text=True)
    for url, html in pages.items():
        assert f'<html lang="{lang}">' in html, url
        # What a reader sees: the text between tags, not codes in attributes,
        # and not what is marked as the other language on purpose (a channel's
        # Dutch and English names side by side).
        other = "en" if lang == "nl" else "nl"
        marked = re.compile(rf'<(td|span|p)\b[^>]*\blang="{other}"[^>]*>.*?</\1>', re.S)
        visible = re.sub(r"<[^>]*>", "\n", marked.sub("", html))
        for english, dutch in pairs:
            wrong = str(escape(english if lang == "nl" else dutch))
            shown = [line.strip() for line in visible.splitlines()]
            assert not any(
                wrong == line or (" " in wrong and wrong in line) for line in shown
            ), f"{url} in {lang} shows {wrong!r}"


def test_browser_language_is_the_default(client):
    html = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="en">' in html and "Sign in to Karn" in html
    html = client.get("/login", headers={"Accept-Language": "nl-NL,nl;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="nl">' in html and "Inloggen bij Karn" in html


def test_language_switch_is_remembered(client):
    client.get("/login?lang=en", headers={"Accept-Language": "nl"})
    html = client.get("/login", headers={"Accept-Language": "nl"}).get_data(
        as_text=True
    )
    assert '<html lang="en">' in html


def test_signed_in_user_sees_their_own_language(client, create_user, login):
    user = create_user("staff", language="nl")
    login(user)
    html = client.get("/overview", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert '<html lang="nl">' in html and "Overzicht" in html

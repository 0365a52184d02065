"""Rejected rows of a CSV import: warned of on the preview, listed with their
reasons on the result page, and downloadable in the uploaded file's own
delimiter and encoding, in English and Dutch."""

import codecs
import csv
import io
import os
import re

import pytest
import sqlalchemy as sa

from karn.customers.csv_summary import PREVIEW_ROWS
from karn.customers.models import ImportRun
from tests.conftest import PASSWORD, resize
from tests.test_customers_import import confirm, customers, upload

# A Dutch Excel export: semicolons, Windows-1252, a bad row here and there.
DUTCH_CRM = (
    "Klantnummer;Naam;E-mailadres;Opzegdatum;Maandbedrag;Plaats\r\n"
    "1001;Jan Müller;jan@example.nl;03-11-2026;12,50;Utrecht\r\n"
    "1002;Piet Peeters;piet@@example;04-11-2026;9,95;Gouda\r\n"
    "1003;Els de Wit;els@example.nl;01-11-2026;1.234,56;Delft\r\n"
    "1004;Renée Dijkstra;renee@example.nl;31-02-2026;15,00;Zwolle\r\n"
    ";Zonder Nummer;;05-11-2026;20,00;Assen\r\n"
    "1006;Kees Bakker;kees@example.nl;06-11-2026;7,50;Breda\r\n"
).encode("cp1252")

# The shape of a public bank-churn export: one customer per row, Exited 0 or
# 1, and a last line whose columns have slipped (Exited = 50000).
BANK_HEADER = (
    "RowNumber,CustomerId,Surname,CreditScore,Geography,Gender,Age,Tenure,"
    "Balance,NumOfProducts,HasCrCard,IsActiveMember,EstimatedSalary,Exited\r\n"
)


def bank_export(rows: int) -> bytes:
    lines = [BANK_HEADER]
    for i in range(1, rows + 1):
        lines.append(
            f"{i},{15600000 + i},Surname{i},{500 + i % 300},France,Female,"
            f"{20 + i % 50},{i % 10},{i * 10.5:.2f},1,1,{i % 2},{50000 + i:.2f},"
            f"{i % 2}\r\n"
        )
    lines.append(
        f"{rows + 1},12348743,Runner,600,France,Male,40,3,3,60000,2,1,1,50000\r\n"
    )
    return "".join(lines).encode()


@pytest.fixture(params=["en", "nl"])
def language(request):
    return request.param


@pytest.fixture
def manager(create_user, login, language):
    user = create_user("manager", language=language)
    login(user)
    return user


def rejected_lines(html: str) -> list[str]:
    return re.findall(r"<tr>\s*<td class=\"num\"[^>]*>(\d+)</td>", html)


def test_preview_warns_of_bad_rows_and_the_result_lists_them(
    client, db, manager, language
):
    nl = language == "nl"
    url, preview = upload(client, DUTCH_CRM)
    html = preview.get_data(as_text=True)
    assert (
        "3 van de 6 rijen zouden worden afgewezen."
        if nl
        else "3 of the 6 rows would be rejected."
    ) in html
    # Each with its line and why, in the reader's language, before importing.
    assert rejected_lines(html) == ["3", "5", "6"]
    assert (
        "E-mailadres: Geen geldig e-mailadres: &#39;piet@@example&#39;"
        if nl
        else "E-mailadres: Not a valid e-mail address: &#39;piet@@example&#39;"
    ) in html
    assert (
        "Opzegdatum: Geen leesbare datum" if nl else "Opzegdatum: Not a date"
    ) in html
    assert customers(db) == {}

    result = client.get(confirm(client, url, preview).location).get_data(as_text=True)
    section = result[result.index('id="rejected"') :]
    assert rejected_lines(section) == ["3", "5", "6"]
    assert (
        "De rij heeft geen klantnummer en geen e-mailadres"
        if nl
        else "The row has neither a customer ID nor an e-mail address"
    ) in section
    # The row's own values, to find it in the file.
    assert "Naam: Piet Peeters" in section and "Plaats: Zwolle" in section
    assert 'id="rejected-more"' not in section  # all of them are on the page
    assert set(customers(db)) == {"1001", "1003", "1006"}


def test_the_download_is_written_as_the_upload_was(client, db, manager, language):
    nl = language == "nl"
    url, preview = upload(client, DUTCH_CRM)
    confirm(client, url, preview)
    run = db.session.scalars(sa.select(ImportRun)).one()
    download = client.get(f"/customers/import/{run.id}/rejected.csv")
    assert download.content_type == "text/csv; charset=windows-1252"
    data = download.get_data()
    assert not data.startswith(codecs.BOM_UTF8)
    assert "Renée".encode("cp1252") in data
    table = list(csv.reader(io.StringIO(data.decode("cp1252")), delimiter=";"))
    # The original columns and one reason column; no redundant ones.
    assert table[0] == [
        "Karn regel" if nl else "Karn line",
        "Karn reden" if nl else "Karn reason",
        "Klantnummer",
        "Naam",
        "E-mailadres",
        "Opzegdatum",
        "Maandbedrag",
        "Plaats",
    ]
    assert [row[0] for row in table[1:]] == ["3", "5", "6"]
    assert table[2][2:] == [
        "1004",
        "Renée Dijkstra",
        "renee@example.nl",
        "31-02-2026",
        "15,00",
        "Zwolle",
    ]
    # Corrected in Excel and uploaded as it is: the rows come in.
    table[1][4] = "piet@example.nl"
    table[2][5] = "28-02-2026"
    table[3][2], table[3][4] = "1005", "zonder@example.nl"
    fixed = io.StringIO()
    csv.writer(fixed, delimiter=";", lineterminator="\r\n").writerows(table)
    url, preview = upload(client, fixed.getvalue().encode("cp1252"), "fixed.csv")
    html = preview.get_data(as_text=True)
    assert ("Alle 3 rijen zijn in orde" if nl else "All 3 rows are fine") in html
    confirm(client, url, preview)
    stored = customers(db)
    assert set(stored) == {"1001", "1002", "1003", "1004", "1005", "1006"}
    assert stored["1004"].name == "Renée Dijkstra" and stored["1004"].extra == {
        "Plaats": "Zwolle"
    }


def test_a_bank_churn_export_with_a_broken_last_line(client, db, manager, language):
    nl = language == "nl"
    url, preview = upload(client, bank_export(40))
    html = preview.get_data(as_text=True)
    assert (
        "1 van de 41 rijen zou worden afgewezen."
        if nl
        else "1 of the 41 rows would be rejected."
    ) in html
    assert rejected_lines(html) == ["42"]
    assert (
        "Exited: Uit &#39;50000&#39; valt niet"
        if nl
        else "Exited: Cannot tell from &#39;50000&#39;"
    ) in html
    result = client.get(confirm(client, url, preview).location).get_data(as_text=True)
    assert re.findall(r'class="figure">([^<]*)', result)[:2] == ["41", "40"]
    section = result[result.index('id="rejected"') :]
    assert rejected_lines(section) == ["42"]
    assert "Surname: Runner" in section
    run = db.session.scalars(sa.select(ImportRun)).one()
    data = client.get(f"/customers/import/{run.id}/rejected.csv").get_data()
    # UTF-8 with commas in, UTF-8 with commas out (with a BOM, for Excel).
    assert data.startswith(codecs.BOM_UTF8)
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][2:] == BANK_HEADER.strip().split(",")
    # The line number, the reason, then the row as it was.
    assert table[1][0] == "42" and table[1][1].startswith("Exited: ")
    assert table[1][2:] == (
        "41,12348743,Runner,600,France,Male,40,3,3,60000,2,1,1,50000".split(",")
    )


def test_the_result_lists_fifty_rows_and_counts_the_rest(client, db, manager, language):
    rows = ["Klantnummer;E-mailadres"] + [f"{i};kapot{i}@" for i in range(1, 61)]
    url, preview = upload(client, "\r\n".join(rows).encode("cp1252"))
    html = preview.get_data(as_text=True)
    assert len(rejected_lines(html)) == 10  # the preview lists the first ten
    result = client.get(confirm(client, url, preview).location).get_data(as_text=True)
    section = result[result.index('id="rejected"') :]
    assert rejected_lines(section) == [str(line) for line in range(2, 52)]
    assert (
        "Nog 10 afgewezen rijen staan in de download."
        if language == "nl"
        else "10 more rejected rows are in the download."
    ) in section


def test_a_long_file_is_checked_on_its_first_rows(client, db, manager, language):
    nl = language == "nl"
    lines = ["id,email"] + [f"{i},c{i}@example.nl" for i in range(PREVIEW_ROWS + 500)]
    url, preview = upload(client, "\n".join(lines).encode())
    html = preview.get_data(as_text=True)
    first = f"{PREVIEW_ROWS:,}".replace(",", "." if nl else ",")
    assert (
        f"De eerste {first} rijen zijn in orde"
        if nl
        else f"The first {first} rows are fine"
    ) in html
    assert (
        f"Hier zijn alleen de eerste {first} rijen gecontroleerd"
        if nl
        else f"Only the first {first} rows are checked here"
    ) in html


def test_an_excel_unicode_text_export_comes_back_as_one(client, db, manager):
    data = codecs.BOM_UTF16_LE + (
        "ID\tE-mail\tNaam\r\n1\tann@example.nl\tAnn Øster\r\n2\tkapot@\tBo Ærø\r\n"
    ).encode("utf-16-le")
    url, preview = upload(client, data)
    confirm(client, url, preview)
    run = db.session.scalars(sa.select(ImportRun)).one()
    download = client.get(f"/customers/import/{run.id}/rejected.csv")
    assert download.content_type == "text/csv; charset=utf-16"
    body = download.get_data()
    assert body.startswith(codecs.BOM_UTF16_LE)
    lines = body[2:].decode("utf-16-le").splitlines()
    assert lines[1].startswith("3\t") and lines[1].endswith("\t2\tkapot@\tBo Ærø")


# --- In the browser --------------------------------------------------------

SHOTS = os.environ.get("KARN_SCREENSHOTS")  # a folder: save what the test sees


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "nl"])
def test_a_manager_sees_the_bad_rows_before_and_after_importing(
    browser, live_server, create_user, tmp_path, lang
):
    nl = lang == "nl"
    manager = create_user("manager", language=lang)
    context = browser.new_context(locale="nl-NL" if nl else "en-GB")
    page = context.new_page()
    page.goto(live_server + "/login")
    page.locator("input[name=email]").fill(manager.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/overview$"))
    path = tmp_path / "klanten.csv"
    path.write_bytes(DUTCH_CRM)
    page.goto(live_server + "/customers/import")
    page.locator("input[type=file]").set_input_files(str(path))
    page.locator("form button.primary").click()
    page.wait_for_url(re.compile(r"/customers/import/\d+$"))
    note = page.locator("#rejections-note")
    assert note.inner_text().startswith(
        "3 van de 6 rijen zouden worden afgewezen."
        if nl
        else "3 of the 6 rows would be rejected."
    )
    note.get_by_role("link").click()
    rows = page.locator("#rejections tbody tr")
    assert rows.count() == 3 and rows.first.inner_text().startswith("3")
    _shoot(page, f"import-preview-{lang}")
    page.get_by_role(
        "button", name="Importeren" if nl else "Import", exact=True
    ).click()
    page.wait_for_url(re.compile(r"/result(#.*)?$"))
    rows = page.locator("#rejected tbody tr")
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(3)] == [
        "3",
        "5",
        "6",
    ]
    assert ("Geen geldig e-mailadres" if nl else "Not a valid e-mail address") in (
        rows.first.inner_text()
    )
    with page.expect_download() as info:
        page.get_by_role(
            "link",
            name="Afgewezen rijen downloaden (CSV)"
            if nl
            else "Download rejected rows (CSV)",
        ).click()
    assert info.value.suggested_filename == "klanten-rejected.csv"
    _shoot(page, f"import-result-{lang}")
    # On a phone the page does not scroll sideways; the table scrolls in its box.
    resize(page, 390, 844)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def _shoot(page, name: str) -> None:
    if not SHOTS:
        return
    size = page.viewport_size
    for width in (1366, 390):
        resize(page, width, 900)
        page.screenshot(path=os.path.join(SHOTS, f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)

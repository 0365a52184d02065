"""Importing departed customers from real CSV files: page, command and rules."""

import io
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from karn import clock
from karn.customers.models import Customer, ImportRun
from karn.customers.operations import import_csv
from tests.conftest import csrf_token

DUTCH_EXCEL = (
    "Klantnummer;Naam;E-mailadres;Opzegdatum;Maandbedrag;Abonnement;Plaats\r\n"
    "1001;Jan Müller;jan@example.nl;03-11-2026;12,50;Basis;Utrecht\r\n"
    "1002;Piet;piet@@example;31-02-2026;-5;Basis;Gouda\r\n"
    "1003;Els de Wit;els@example.nl;01/11/2026;1.234,56;Zakelijk;Delft\r\n"
).encode("cp1252")


def customers(db):
    db.session.expire_all()
    return {c.external_id: c for c in db.session.scalars(sa.select(Customer))}


def upload(client, data: bytes, name="export.csv", dry_run=False):
    """Upload a file and confirm the detected mapping, as a user would."""
    token = csrf_token(client, "/customers/import")
    form = {"csrf_token": token, "file": (io.BytesIO(data), name)}
    if dry_run:
        form["dry_run"] = "y"
    response = client.post(
        "/customers/import", data=form, content_type="multipart/form-data"
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    preview = client.get(response.location)
    return response.location, preview


def confirm(client, preview_url, preview, overrides=None):
    html = preview.get_data(as_text=True)
    form = {"csrf_token": csrf_token(client, preview_url)}
    for m in re.finditer(
        r'<select id="(map-\d+)" name="map-\d+">(.*?)</select>', html, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected', m.group(2))
        form[m.group(1)] = chosen.group(1) if chosen else ""
    form.update(overrides or {})
    return client.post(preview_url, data=form)


@pytest.fixture
def manager(create_user, login):
    user = create_user("manager", language="en")
    login(user)
    return user


def test_dutch_excel_export_imports_through_the_page(client, db, manager):
    url, preview = upload(client, DUTCH_EXCEL)
    html = preview.get_data(as_text=True)
    # The preview shows what was recognised before anything is written.
    assert "semicolons" in html and "Jan Müller" in html
    assert customers(db) == {}
    result = client.get(confirm(client, url, preview).location).get_data(as_text=True)
    assert re.findall(r'class="figure">([^<]*)', result) == ["3", "2", "0", "0", "1"]
    stored = customers(db)
    assert stored["1001"].name == "Jan Müller"
    assert stored["1001"].monthly_revenue == Decimal("12.50")
    assert stored["1003"].monthly_revenue == Decimal("1234.56")
    assert (
        stored["1003"].departed_at.day == 1 and stored["1003"].departed_at.month == 11
    )
    assert stored["1001"].extra == {"Plaats": "Utrecht"}
    assert stored["1001"].plan == "Basis"


def test_rejected_rows_download_names_line_column_and_reason(client, db, manager):
    url, preview = upload(client, DUTCH_EXCEL)
    confirm(client, url, preview)
    run = db.session.scalars(sa.select(ImportRun)).one()
    download = client.get(f"/customers/import/{run.id}/rejected.csv")
    # Written as the upload was: Windows-1252 and semicolons, for Dutch Excel.
    assert download.content_type == "text/csv; charset=windows-1252"
    lines = download.get_data().decode("cp1252").splitlines()
    assert len(lines) == 2  # header and the one bad row
    assert lines[0] == (
        "Karn line;Karn reason;Klantnummer;Naam;E-mailadres;Opzegdatum;"
        "Maandbedrag;Abonnement;Plaats"
    )
    assert lines[1].startswith("3;")
    # The values as they were; "-5" guarded as text (formatting.spreadsheet_cell).
    assert lines[1].endswith(";1002;Piet;piet@@example;31-02-2026;'-5;Basis;Gouda")
    for reason in ("E-mailadres: ", "Opzegdatum: ", "Maandbedrag: ", "negative"):
        assert reason in lines[1]


def test_mapping_can_be_changed_before_import(client, db, manager):
    url, preview = upload(client, DUTCH_EXCEL)
    # Column 5 ("Abonnement") kept as an extra attribute instead of the plan.
    confirm(client, url, preview, {"map-5": ""})
    stored = customers(db)["1001"]
    assert stored.plan is None
    assert stored.extra == {"Abonnement": "Basis", "Plaats": "Utrecht"}


def test_utf8_bom_and_comma_file(db, app):
    data = (
        "\ufeffCustomer ID,Email,Name,Churn Date,Monthly Charges\n"
        "C-1,ann@example.com,Ann,2026-10-30,29.95\n".encode()
    )
    report = import_csv(io.BytesIO(data))
    assert (report.created, report.rejected) == (1, 0)
    assert customers(db)["C-1"].monthly_revenue == Decimal("29.95")


def test_reimporting_the_same_file_changes_nothing(db, app):
    import_csv(io.BytesIO(DUTCH_EXCEL))
    before = {k: c.updated_at for k, c in customers(db).items()}
    again = import_csv(io.BytesIO(DUTCH_EXCEL))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert {k: c.updated_at for k, c in customers(db).items()} == before
    assert len(customers(db)) == 2


def test_a_later_departure_moves_the_date_an_older_export_does_not(db, app):
    import_csv(io.BytesIO(DUTCH_EXCEL))
    later = DUTCH_EXCEL.replace(b"03-11-2026", b"20-11-2026")
    assert import_csv(io.BytesIO(later)).updated == 1
    assert customers(db)["1001"].departed_at.day == 20
    older = DUTCH_EXCEL.replace(b"03-11-2026", b"01-01-2026")
    assert import_csv(io.BytesIO(older)).updated == 0
    assert customers(db)["1001"].departed_at.day == 20


def test_rows_without_id_match_by_email(db, app):
    import_csv(io.BytesIO(b"email,name\nmia@example.com,Mia\n"))
    report = import_csv(io.BytesIO(b"email,name,segment\nmia@example.com,Mia,SMB\n"))
    assert (report.created, report.updated) == (0, 1)
    (mia,) = customers(db).values()
    assert mia.segment == "SMB"


class Interrupted(io.RawIOBase):
    """A file that fails after a number of bytes, like a dropped upload or a crash."""

    def __init__(self, data: bytes, fail_at: int):
        self.data, self.pos, self.fail_at = data, 0, fail_at

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.pos >= self.fail_at:
            raise OSError("connection lost")
        chunk = self.data[self.pos : min(self.pos + len(buffer), self.fail_at)]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def test_an_interrupted_import_is_resumed_by_running_it_again(db, app):
    lines = ["id,email,name"] + [
        f"{i},p{i}@example.com,Person {i}" for i in range(30_000)
    ]
    data = ("\n".join(lines) + "\n").encode()
    with pytest.raises(OSError):
        import_csv(io.BufferedReader(Interrupted(data, len(data) // 2)), batch_size=500)
    halfway = db.session.scalar(sa.select(sa.func.count(Customer.id)))
    assert 0 < halfway < 30_000 and halfway % 500 == 0  # whole batches only
    report = import_csv(io.BytesIO(data), batch_size=500)
    assert report.created == 30_000 - halfway and report.unchanged == halfway
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 30_000


def test_dry_run_writes_nothing_but_counts(client, db, manager):
    url, preview = upload(client, DUTCH_EXCEL, dry_run=True)
    result = client.get(confirm(client, url, preview).location).get_data(as_text=True)
    assert "Nothing was written" in result
    assert re.findall(r'class="figure">([^<]*)', result)[1] == "2"
    assert customers(db) == {}


def test_too_large_file_is_refused_with_a_message(client, db, manager, app):
    # Kept under the test client's in-memory limit for request bodies.
    app.config["IMPORT_MAX_BYTES"] = 100 * 1024
    big = b"id,email\n" + b"".join(
        b"%d,p%d@example.com\n" % (i, i) for i in range(15_000)
    )
    token = csrf_token(client, "/customers/import")
    response = client.post(
        "/customers/import",
        data={"csrf_token": token, "file": (io.BytesIO(big), "big.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "larger than 0.1 MB" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ImportRun.id))) == 0


def test_a_file_that_is_not_csv_gets_a_clear_error(client, db, manager):
    token = csrf_token(client, "/customers/import")
    response = client.post(
        "/customers/import",
        data={"csrf_token": token, "file": (io.BytesIO(b""), "empty.csv")},
        content_type="multipart/form-data",
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and 'class="error"' in text


def test_staff_cannot_import(client, create_user, login):
    login(create_user("staff"))
    assert client.get("/customers/import").status_code == 403


def test_import_command(runner, db, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(DUTCH_EXCEL)
    rejected = tmp_path / "rejected.csv"
    result = runner.invoke(args=["customers", "import", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert customers(db) == {}
    result = runner.invoke(
        args=[
            "customers",
            "import",
            str(path),
            "--mapping",
            "Plaats=region",
            "--rejected",
            str(rejected),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "3" in result.output and "2" in result.output
    assert customers(db)["1001"].region == "Utrecht"
    assert rejected.read_text(encoding="utf-8-sig").count("\n") == 2


def test_import_command_refuses_an_unknown_field(runner, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(DUTCH_EXCEL)
    result = runner.invoke(
        args=["customers", "import", str(path), "--mapping", "Plaats=city"]
    )
    assert result.exit_code != 0
    assert "unknown field 'city'" in result.output


def test_a_file_without_customer_numbers_says_how_to_go_on(runner, db, tmp_path):
    """An analysis export (state, minutes, churn) has no customer number: the
    import says which way to go, and a column named as one is then used."""
    path = tmp_path / "telecom.csv"
    path.write_text(
        "State,Account length,Customer service calls,Churn\n"
        "KS,128,1,FALSE\nOH,107,1,FALSE\nNJ,137,0,TRUE\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["customers", "import", str(path)])
    assert result.exit_code != 0
    assert "--mapping" in result.output and "external_id" in result.output
    assert customers(db) == {}
    numbered = tmp_path / "numbered.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    numbered.write_text(
        "\n".join(
            ["CustNo," + lines[0]] + [f"{i},{line}" for i, line in enumerate(lines[1:])]
        ),
        encoding="utf-8",
    )
    result = runner.invoke(args=["customers", "import", str(numbered)])
    assert result.exit_code == 0, result.output
    assert {k: c.status.value for k, c in customers(db).items()} == {
        "0": "active",
        "1": "active",
        "2": "departed",
    }


# --- Faults: counts that add up, warnings, exit status ---------------------


def figures(html: str) -> list[str]:
    return re.findall(r'class="figure">([^<]*)', html)


def test_a_quote_left_open_is_counted_and_reported_by_the_import(db, app):
    data = (
        b"id,email,name\n"
        b"1,a@example.com,Ann\n"
        b'2,b@example.com,"Bob\n'
        b"3,c@example.com,Cor\n"
        b"4,d@example.com,Dirk\n"
    )
    report = import_csv(io.BytesIO(data))
    # Four data rows: one imported, three rejected (the row and the two it ate).
    assert (report.rows, report.created, report.rejected) == (4, 1, 3)
    assert set(customers(db)) == {"1"}
    (error,) = report.errors
    assert error.errors[0].message_en.startswith("Lines 3–5: a quote")
    rejected = report.rejected_csv().decode("utf-8-sig")
    assert "Lines 3–5" in rejected and "c@example.com" in rejected


def test_a_customer_number_twice_in_a_file_keeps_the_first(db, app):
    data = (
        b"id,email,name\n"
        b"1,ann@example.com,Ann\n"
        b"2,bob@example.com,Bob\n"
        b"1,someone@example.com,Someone Else\n"
    )
    report = import_csv(io.BytesIO(data), batch_size=2)
    assert (report.rows, report.created, report.rejected) == (3, 2, 1)
    assert report.rows == (
        report.created + report.updated + report.unchanged + report.rejected
    )
    assert customers(db)["1"].name == "Ann"
    (error,) = report.errors
    assert error.line == 4
    assert error.errors[0].message_en.startswith(
        "Customer number '1' is also on line 2"
    )
    assert error.errors[0].message_nl.startswith("Klantnummer '1' staat ook op regel 2")


def test_a_windows_1252_byte_in_a_utf8_file_is_shown_on_preview_and_result(
    client, db, manager
):
    data = (
        "Klantnummer;Naam;E-mailadres\n1;José Müller;jose@example.nl\n".encode()
        + "".join(f"{i};Zoë {i};z{i}@example.nl\n" for i in range(2, 3000)).encode()
        + "3000;Renée;renee@example.nl\n".encode("cp1252")
    )
    assert len(data) > 64 * 1024  # the stray byte is past what detect() reads
    url, preview = upload(client, data)
    html = preview.get_data(as_text=True)
    warning = (
        "1 byte is not UTF-8 and was read as Windows-1252 (on line 3001); check "
        "the characters on that line"
    )
    assert warning in html and "Found: UTF-8, separated by semicolons" in html
    result = client.get(confirm(client, url, preview).location).get_data(as_text=True)
    assert warning in result
    assert figures(result)[:2] == ["3,000", "3,000"]
    stored = customers(db)
    assert (stored["1"].name, stored["3000"].name) == ("José Müller", "Renée")


def test_every_row_rejected_is_said_on_the_result_page(client, db, manager):
    url, preview = upload(client, b"id,email\n1,not-an-address\n")
    result = client.get(confirm(client, url, preview).location).get_data(as_text=True)
    assert "Every row was rejected: nothing was imported." in result


def test_a_header_only_file_is_refused_on_upload(client, db, manager):
    token = csrf_token(client, "/customers/import")
    response = client.post(
        "/customers/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"id;email\r\n"), "e.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "The file has a header but no data rows." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ImportRun.id))) == 0


def test_import_command_fails_when_every_row_is_rejected(runner, db, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"id,email\n1,not-an-address\n2,also@bad\n")
    result = runner.invoke(args=["customers", "import", str(path)])
    assert result.exit_code == 1
    # The command speaks the company's default language, Dutch here.
    assert "2 rijen: 0 nieuw, 0 bijgewerkt, 0 ongewijzigd, 2 afgewezen" in (
        result.output
    )
    assert "Elke rij is afgewezen: er is niets geïmporteerd." in result.output


def test_import_command_says_no_data_rows(runner, db, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"id,email\r\n")
    result = runner.invoke(args=["customers", "import", str(path)])
    assert result.exit_code == 1
    assert "Het bestand heeft een kopregel maar geen rijen met gegevens." in (
        result.output
    )


def test_import_command_warns_of_windows_1252_bytes(runner, db, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(
        "id,name,email\n1,Zoë,z@example.com\n".encode() + b"2,Ren\xe9e,r@example.com\n"
    )
    result = runner.invoke(args=["customers", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "Let op: 1 byte is geen UTF-8" in result.output
    assert "(op regel 3)" in result.output
    assert customers(db)["2"].name == "Renée"


# --- Erased people ---------------------------------------------------------


def test_erased_people_are_looked_up_once_per_batch_not_per_row(db, app):
    from datetime import date

    from karn.customers.erased import identifier_hash
    from karn.customers.models import ErasedPerson

    db.session.add_all(
        [
            ErasedPerson(
                email_hash=identifier_hash(f"gone{i}@example.com"),
                external_id_hash=identifier_hash(f"G{i}"),
                erased_on=date(2026, 12, 1),
            )
            for i in range(50)
        ]
    )
    db.session.commit()
    lines = ["id,email,name,departed_at"]
    lines += [f"{i},p{i}@example.com,Person {i},20-11-2026" for i in range(2500)]
    lines[1234] = "G7,,Gone Seven,20-11-2026"  # erased: refused
    lines[2345] = ",GONE8@example.com,Gone Eight,20-11-2026"  # erased: refused
    lookups = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "erased_people" in statement:
            lookups.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = import_csv(io.BytesIO("\n".join(lines).encode()), batch_size=1000)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert (report.rows, report.created, report.rejected) == (2500, 2498, 2)
    assert [e.line for e in report.errors] == [1235, 2346]
    assert len(lookups) == 3  # one per batch of 1,000 rows
    assert [c for c in customers(db).values() if c.name.startswith("Gone")] == []


def test_rejected_rows_are_guarded_against_formulas_and_import_again(
    client, db, manager
):
    formula, place = "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)"
    data = (
        "Klantnummer;Naam;E-mailadres;Opzegdatum;Plaats\r\n"
        "2001;Ann;ann@example.nl;03-11-2026;Utrecht\r\n"
        f"2002;{formula};bob@example.nl;31-02-2026;{place}\r\n"
    ).encode()
    url, preview = upload(client, data)
    confirm(client, url, preview)
    run = db.session.scalars(sa.select(ImportRun)).one()
    rejected = client.get(f"/customers/import/{run.id}/rejected.csv")
    text = rejected.get_data(as_text=True)
    # A spreadsheet shows these cells as the text they are.
    assert f";'{formula};" in text.replace('"', "")
    assert text.rstrip().endswith(f";'{place}")
    # Corrected and uploaded as it is, the values come back without the guard.
    fixed = text.replace("31-02-2026", "28-02-2026").encode("utf-8")
    url, preview = upload(client, fixed, name="export-rejected.csv")
    confirm(client, url, preview)
    stored = customers(db)["2002"]
    assert stored.name == formula
    assert stored.extra == {"Plaats": place}


def test_a_nul_byte_rejects_its_row_and_the_others_are_stored(db, app):
    # PostgreSQL cannot store a NUL in text; the file used to be refused whole.
    data = b"id,email,name\n1,a@example.com,Ann\n2,b@example.com,B\x00b\n3,c@x.nl,Cor\n"
    report = import_csv(io.BytesIO(data))
    assert (report.rows, report.created, report.rejected) == (3, 2, 1)
    assert set(customers(db)) == {"1", "3"}
    assert report.errors[0].errors[0].code == "nul_byte"


# --- Status, stated reasons and comments from the CRM ----------------------


@pytest.fixture
def survey(db):
    from karn.surveys.models import Survey, SurveyVersion

    survey = Survey(name="Exit survey")
    db.session.add(SurveyVersion(survey=survey, number=1, questions=[]))
    db.session.commit()
    return survey


def invited(db) -> set[str]:
    """The customer numbers of everyone with an invitation."""
    from karn.surveys.models import Invitation

    db.session.expire_all()
    query = sa.select(Customer.external_id).join(
        Invitation, Invitation.customer_id == Customer.id
    )
    return set(db.session.scalars(query))


SNAPSHOT = (
    b"Customer ID,Email,Churn Label,Churn Reason,Comments\n"
    b"S1,s1@example.com,Yes,Competitor offered higher download speeds,"
    b"Too slow in the evening\n"
    b"S2,s2@example.com,No,,\n"
    b"S3,s3@example.com,Yes,Price too high,\n"
)


def test_a_snapshot_without_dates_invites_no_one_until_given_the_date(
    runner, db, survey, tmp_path
):
    path = tmp_path / "snapshot.csv"
    path.write_bytes(SNAPSHOT)
    result = runner.invoke(args=["customers", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 vertrokken, 1 actief" in result.output
    assert "2 vertrokken zonder opzegdatum" in result.output
    stored = customers(db)
    assert {k: (c.status.value, c.departed_at) for k, c in stored.items()} == {
        "S1": ("departed", None),
        "S2": ("active", None),
        "S3": ("departed", None),
    }
    assert invited(db) == set()
    today = clock.now().date()
    result = runner.invoke(
        args=["customers", "import", str(path), "--departed-on", today.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert invited(db) == {"S1", "S3"}  # never the active customer
    stored = customers(db)
    assert stored["S1"].departed_at.date() == today
    assert (stored["S2"].status.value, stored["S2"].departed_at) == ("active", None)


def test_reasons_and_comments_from_the_crm_are_stored(runner, db, survey, tmp_path):
    path = tmp_path / "snapshot.csv"
    path.write_bytes(SNAPSHOT)
    report = import_csv(io.BytesIO(SNAPSHOT))
    assert (report.departed, report.active, report.undated) == (2, 1, 2)
    stored = customers(db)
    assert (stored["S1"].stated_reason, stored["S1"].stated_comment) == (
        "brand",
        "Too slow in the evening",
    )
    assert stored["S3"].stated_reason == "price"
    assert (stored["S2"].stated_reason, stored["S2"].stated_comment) == (None, None)
    # The CRM's wording meant something else here: the user says what.
    result = runner.invoke(
        args=[
            "customers",
            "import",
            str(path),
            "--reason-map",
            "Price too high=quality",
        ]
    )
    assert result.exit_code == 0, result.output
    assert customers(db)["S3"].stated_reason == "quality"


def test_the_cli_names_the_status_column_and_what_its_values_mean(runner, db, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"id;Weg?;Tenure\n1;ja;2\n2;nee;3\n3;misschien;4\n")
    result = runner.invoke(
        args=[
            "customers",
            "import",
            str(path),
            "--dry-run",
            "--status-column",
            "Weg?",
            "--status-map",
            "ja=departed",
            "--status-map",
            "nee=active",
            "--tenure-unit",
            "years",
        ]
    )
    assert result.exit_code == 0, result.output
    # The dry run says how the columns and values are read.
    assert "Weg? → status" in result.output
    assert "ja = departed (1), nee = active (1), misschien = ? (1)" in result.output
    assert "Looptijd (Tenure) in jaren" in result.output
    assert "1 vertrokken, 1 actief" in result.output
    assert "regel 4, kolom Weg?: Uit 'misschien' valt niet op te maken" in result.output
    assert customers(db) == {}
    result = runner.invoke(
        args=["customers", "import", str(path), "--status-map", "ja=gone"]
    )
    assert result.exit_code != 0 and "'gone'" in result.output


def page_form(html: str) -> dict[str, str]:
    """Every select's chosen option and every hidden value of a page's form."""
    import html as htmllib

    form = {}
    for m in re.finditer(
        r'<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>', html, re.S
    ):
        options = re.findall(r'<option value="([^"]*)"( selected)?', m.group(2))
        chosen = [v for v, selected in options if selected] or [options[0][0]]
        form[m.group(1)] = chosen[0]
    for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        form[m.group(1)] = htmllib.unescape(m.group(2))
    return form


def test_the_preview_counts_departed_and_active_and_takes_corrections(
    client, db, manager, survey
):
    data = (
        b"Klantnr;E-mailadres;Klant weg?;Reden opzegging;Opmerking\r\n"
        b"1;a@example.nl;weg;Te duur;Veel te duur geworden\r\n"
        b"2;b@example.nl;blijft;;\r\n"
        b"3;c@example.nl;twijfel;Verhuisd;\r\n"
        b"4;d@example.nl;weg;Verhuisd;\r\n"
    )
    url, preview = upload(client, data)
    html = preview.get_data(as_text=True)
    # No column is named like a status: every row is a departure, as before.
    assert 'id="status-counts"' not in html
    form = page_form(html)
    status_select = next(k for k, v in form.items() if k.startswith("map-") and v == "")
    assert form["map-3"] == "stated_reason" and form["map-4"] == "stated_comment"
    # The user names the status column and looks again.
    form.update({status_select: "status", "action": "refresh"})
    form["csrf_token"] = csrf_token(client, url)
    again = client.post(url, data=form)
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and customers(db) == {}
    counts = re.search(r'id="status-counts">([^<]*)', html).group(1)
    assert "Departed customers: 2. Active customers: 1. Rows read: 4." in counts
    assert "Rows that do not say whether the customer left: 1." in html
    # The file has no dates: the page asks for the date they left.
    assert 'name="departed_on"' in html and "The file has no departure dates." in html
    form = page_form(html)
    values = {form[k]: k.removeprefix("status-value-") for k in form if "value" in k}
    assert form[f"status-as-{values['twijfel']}"] == ""  # cannot tell: rejected
    reason_values = {
        form[k]: k.removeprefix("reason-value-")
        for k in form
        if k.startswith("reason-value-")
    }
    assert form[f"reason-as-{reason_values['te duur']}"] == "price"
    assert form[f"reason-as-{reason_values['verhuisd']}"] == "need"
    today = clock.now().date()
    form.update(
        {
            f"status-as-{values['twijfel']}": "departed",
            f"reason-as-{reason_values['verhuisd']}": "other",
            "departed_on": today.isoformat(),
            "action": "refresh",
            "csrf_token": csrf_token(client, url),
        }
    )
    html = client.post(url, data=form).get_data(as_text=True)
    counts = re.search(r'id="status-counts">([^<]*)', html).group(1)
    assert "Departed customers: 3. Active customers: 1. Rows read: 4." in counts
    assert 'id="status-unreadable"' not in html
    assert f'value="{today.isoformat()}"' in html
    form = page_form(html)
    form["departed_on"] = today.isoformat()
    form.pop("action", None)
    form["csrf_token"] = csrf_token(client, url)
    result = client.post(url, data=form)
    assert result.status_code == 302
    stored = customers(db)
    assert {k: c.status.value for k, c in stored.items()} == {
        "1": "departed",
        "2": "active",
        "3": "departed",
        "4": "departed",
    }
    assert {k: c.stated_reason for k, c in stored.items()} == {
        "1": "price",
        "2": None,
        "3": "other",
        "4": "other",
    }
    assert stored["1"].stated_comment == "Veel te duur geworden"
    assert stored["3"].departed_at.date() == today
    assert invited(db) == {"1", "3", "4"}


def test_value_choices_made_for_another_column_are_not_applied(client, db, manager):
    data = b"id;email;Churn;Actief\n1;a@example.nl;Yes;Ja\n2;b@example.nl;No;Nee\n"
    url, preview = upload(client, data)
    form = page_form(preview.get_data(as_text=True))
    assert (form["map-2"], form["map-3"]) == ("status", "")
    # The user moves the status to "Actief": the yes/no of Churn meant the opposite.
    form.update({"map-2": "", "map-3": "status", "csrf_token": csrf_token(client, url)})
    client.post(url, data=form)
    stored = customers(db)
    assert (stored["1"].status.value, stored["2"].status.value) == (
        "active",
        "departed",
    )


def test_a_negative_amount_keeps_the_row_and_is_listed_as_a_warning(
    client, db, manager, runner, tmp_path
):
    data = (
        b"Klantnummer;E-mailadres;Maandbedrag;Klantwaarde\r\n"
        b"1;a@example.nl;12,50;300\r\n"
        b"2;b@example.nl;-4,95;120\r\n"
    )
    url, preview = upload(client, data)
    result = client.get(confirm(client, url, preview).location).get_data(as_text=True)
    assert figures(result)[:2] == ["2", "2"]  # both rows imported
    assert figures(result)[4] == "0"  # none rejected
    warnings = re.search(r'id="warnings">(.*?)</div>', result, re.S).group(1)
    assert "Rows imported with a value left out: 1." in warnings
    assert "Line 3, column Maandbedrag: A negative amount is left out" in warnings
    stored = customers(db)["2"]
    assert (stored.monthly_revenue, stored.lifetime_value) == (None, Decimal("120"))
    path = tmp_path / "credits.csv"
    path.write_bytes(data)
    output = runner.invoke(args=["customers", "import", str(path)]).output
    assert "Regel 3, kolom Maandbedrag: Een negatief bedrag is weggelaten" in output


def test_tenure_in_years_is_shown_and_can_be_switched_on_the_preview(
    client, db, manager
):
    data = b"id;email;Tenure (years)\n1;a@example.nl;2\n"
    url, preview = upload(client, data)
    html = preview.get_data(as_text=True)
    form = page_form(html)
    assert form["tenure_unit"] == "years"
    confirm(client, url, preview)
    assert customers(db)["1"].tenure_months == 24
    data = b"id;email;Tenure\n2;b@example.nl;2\n"
    url, preview = upload(client, data)
    form = page_form(preview.get_data(as_text=True))
    assert form["tenure_unit"] == "months"
    form.update({"tenure_unit": "years", "csrf_token": csrf_token(client, url)})
    client.post(url, data=form)
    assert customers(db)["2"].tenure_months == 24


def test_rows_leaving_different_cells_empty_are_inserted_together(db, app):
    # A real export leaves some cells empty here and others there; inserted
    # row by row, 100,000 such rows took half again as long.
    lines = ["id,email,phone,Churn,Churn Reason,Comment"]
    for i in range(2000):
        phone = "06-12345678" if i % 3 else ""
        left = i % 2
        reason = "Price too high" if left else ""
        comment = "Te duur" if i % 5 == 0 else ""
        churn = "Yes" if left else "No"
        lines.append(f"{i},p{i}@example.com,{phone},{churn},{reason},{comment}")
    inserts = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO customers"):
            inserts.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = import_csv(io.BytesIO("\n".join(lines).encode()), batch_size=1000)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert (report.created, report.departed, report.active) == (2000, 1000, 1000)
    # One statement per kind of row (8 here) per batch, not one per row.
    assert len(inserts) <= 16
    stored = customers(db)
    five = stored["5"]
    assert (five.phone, five.stated_reason, five.stated_comment) == (
        "06-12345678",
        "price",
        "Te duur",
    )
    assert (stored["6"].phone, stored["6"].status.value) == (None, "active")

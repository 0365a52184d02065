"""Tests for the customer CSV parser, on real files written as bytes."""

import csv
import io
import tracemalloc
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from email_validator import EmailNotValidError, validate_email

from karn.customers import csvparse
from karn.customers.csvparse import (
    SKIP,
    CsvFormatError,
    Record,
    RowError,
    detect,
    parse,
    rejected_rows_csv,
    validate_record,
)


def write(tmp_path: Path, data: bytes, name: str = "export.csv") -> Path:
    """Write data as a file in tmp_path and return its path."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def parse_file(path: Path, mapping=None, **kwargs) -> list[Record | RowError]:
    """Parse a file completely and return everything parse() yielded."""
    with path.open("rb") as f:
        return list(parse(f, mapping, **kwargs))


def records(items) -> list[Record]:
    """The good rows among parse() results."""
    return [i for i in items if isinstance(i, Record)]


def row_errors(items) -> list[RowError]:
    """The rejected rows among parse() results."""
    return [i for i in items if isinstance(i, RowError)]


def codes(error: RowError) -> list[tuple[str | None, str]]:
    """(column, code) of each problem in a rejected row."""
    return [(e.column, e.code) for e in error.errors]


# --- Real-world file shapes ------------------------------------------------


def test_semicolon_cp1252_with_decimal_commas(tmp_path):
    text = (
        "Klantnummer;E-mailadres;Naam;Opzegdatum;Maandbedrag;Klantwaarde;Taal\r\n"
        "1001;Jan.Muller@Voorbeeld.NL;Jürgen Müller;31-03-2024;€ 12,50;"
        "1.234,56;Nederlands\r\n"
        "1002;anna@voorbeeld.nl;Anaïs Beaujolais;01.02.2024;9,99;€ 99;en-GB\r\n"
    )
    path = write(tmp_path, text.encode("cp1252"))
    with path.open("rb") as f:
        found = detect(f)
        assert f.tell() == 0
    assert found.encoding == "cp1252"
    assert found.delimiter == ";"
    assert found.preview_rows[0]["Naam"] == "Jürgen Müller"

    first, second = parse_file(path)
    assert first.line == 2
    assert first.fields == {
        "external_id": "1001",
        "email": "jan.muller@voorbeeld.nl",
        "name": "Jürgen Müller",
        "departed_at": datetime(2024, 3, 31, tzinfo=UTC),
        "monthly_revenue": Decimal("12.50"),
        "lifetime_value": Decimal("1234.56"),
        "language": "nl",
    }
    assert second.fields["name"] == "Anaïs Beaujolais"
    assert second.fields["departed_at"] == datetime(2024, 2, 1, tzinfo=UTC)
    assert second.fields["lifetime_value"] == Decimal("99.00")
    assert second.fields["language"] == "en"


def test_utf8_with_bom(tmp_path):
    text = "E-mail,Naam,Regio\nzoë@example.nl,Zoë Šimić,Noord-Brabant\n"
    path = write(tmp_path, b"\xef\xbb\xbf" + text.encode("utf-8"))
    with path.open("rb") as f:
        found = detect(f)
    assert found.encoding == "utf-8-sig"
    assert found.headers == ["E-mail", "Naam", "Regio"]
    assert found.mapping == {"E-mail": "email", "Naam": "name", "Regio": "region"}
    (record,) = parse_file(path)
    assert record.fields == {
        "email": "zoë@example.nl",
        "name": "Zoë Šimić",
        "region": "Noord-Brabant",
    }


def test_utf8_without_bom_and_cut_character_at_sample_edge(tmp_path, monkeypatch):
    # The sample boundary falls inside the two bytes of "é".
    monkeypatch.setattr(csvparse, "SAMPLE_SIZE", 40)
    head = b"ID,Name\n1,"
    filler = b"x" * (39 - len(head))
    data = head + filler + "é\n2,Zoë\n".encode()
    assert data[39:41] == "é".encode()
    path = write(tmp_path, data)
    with path.open("rb") as f:
        assert detect(f).encoding == "utf-8"
    first, second = parse_file(path)
    assert first.fields["name"] == filler.decode() + "é"
    assert second.fields["name"] == "Zoë"


def test_stray_cp1252_byte_after_an_ascii_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(csvparse, "SAMPLE_SIZE", 64)
    rows = "".join(f"{i},klant{i}@voorbeeld.nl,Jan\n" for i in range(1, 20))
    data = (
        b"ID,Email,Name\n"
        + rows.encode()
        + "20,x@voorbeeld.nl,Müller\n".encode("cp1252")
    )
    items = parse_file(write(tmp_path, data))
    assert len(records(items)) == 20
    assert items[-1].fields["name"] == "Müller"


def test_tab_separated(tmp_path):
    data = b"customer_id\temail\tplan\tnote\nA-1\ta@b.nl\tBasic, yearly\thi; there\n"
    path = write(tmp_path, data)
    with path.open("rb") as f:
        assert detect(f).delimiter == "\t"
    (record,) = parse_file(path)
    assert record.fields == {
        "external_id": "A-1",
        "email": "a@b.nl",
        "plan": "Basic, yearly",
    }
    assert record.extra == {"note": "hi; there"}


def test_excel_sep_line(tmp_path):
    data = b"sep=;\r\nKlant-ID;Mail\r\n7;a@b.nl\r\n8;bad\r\n"
    items = parse_file(write(tmp_path, data))
    assert items[0].fields == {"external_id": "7", "email": "a@b.nl"}
    # Physical lines count the sep= line; spreadsheet rows do not show it.
    assert (items[1].line, items[1].row) == (4, 3)


def test_dutch_headers(tmp_path):
    header = (
        "Klantnr;Voornaam;Tussenvoegsel;Achternaam;Telefoonnummer;Taal;"
        "Datum opzegging;Abonnement;Klantsegment;Provincie;Plaats;"
        "Klant sinds (maanden);Maandelijks bedrag;Klantwaarde\r\n"
    )
    row = (
        "K-77;Jan;van der;Berg; 06-12345678 ;NL;15-01-2024;Plus;MKB;Utrecht;"
        "Zeist;24;12,50;300,00\r\n"
    )
    path = write(tmp_path, (header + row).encode("cp1252"))
    with path.open("rb") as f:
        found = detect(f)
    assert found.mapping == {
        "Klantnr": "external_id",
        "Voornaam": "first_name",
        "Tussenvoegsel": "name_infix",
        "Achternaam": "last_name",
        "Telefoonnummer": "phone",
        "Taal": "language",
        "Datum opzegging": "departed_at",
        "Abonnement": "plan",
        "Klantsegment": "segment",
        "Provincie": "region",
        "Plaats": None,
        "Klant sinds (maanden)": "tenure_months",
        "Maandelijks bedrag": "monthly_revenue",
        "Klantwaarde": "lifetime_value",
    }
    (record,) = parse_file(path)
    assert record.fields["name"] == "Jan van der Berg"
    assert record.fields["phone"] == "06-12345678"
    assert record.fields["tenure_months"] == 24
    assert record.fields["region"] == "Utrecht"
    assert record.extra == {"Plaats": "Zeist"}


def test_telco_headers(tmp_path):
    # The columns of the public IBM "Telco customer churn" export.
    header = (
        "CustomerID,Count,Country,State,City,Zip Code,Lat Long,Gender,"
        "Tenure Months,Phone Service,Contract,Monthly Charges,Total Charges,"
        "Churn Label,Churn Value,Churn Score,CLTV,Churn Reason\n"
    )
    rows = (
        "3668-QPYBK,1,United States,California,Los Angeles,90003,"
        '"33.964131, -118.272783",Male,2,Yes,Month-to-month,53.85,108.15,'
        "Yes,1,86,3239,Competitor made better offer\n"
        "9237-HQITU,1,United States,California,Los Angeles,90005,"
        '"34.059281, -118.30742",Female,2,Yes,Month-to-month,70.7,151.65,'
        "Yes,1,67,2701,Moved\n"
        "7590-VHVEG,1,United States,California,Los Angeles,90006,"
        '"34.0, -118.3",Female,0,No,Two year,20.25, ,No,0,30,5000,\n'
    )
    path = write(tmp_path, (header + rows).encode())
    with path.open("rb") as f:
        found = detect(f)
    mapped = {h: t for h, t in found.mapping.items() if t}
    assert mapped == {
        "CustomerID": "external_id",
        "State": "region",
        "Tenure Months": "tenure_months",
        "Contract": "plan",
        "Monthly Charges": "monthly_revenue",
        "CLTV": "lifetime_value",
        "Churn Label": "status",
        "Churn Reason": "stated_reason",
    }
    items = parse_file(path)
    assert len(records(items)) == 3
    first = items[0]
    assert first.fields == {
        "external_id": "3668-QPYBK",
        "region": "California",
        "tenure_months": 2,
        "plan": "Month-to-month",
        "monthly_revenue": Decimal("53.85"),
        "lifetime_value": Decimal("3239.00"),
        "status": "departed",
        "stated_reason": "brand",
        # A snapshot without dates: the departure's date is not known.
        "departed_at": None,
    }
    assert items[1].fields["stated_reason"] == "need"  # "Moved"
    assert (items[2].fields["status"], items[2].fields["stated_reason"]) == (
        "active",
        None,
    )
    assert first.extra["Churn Value"] == "1"  # a second status column stays extra
    assert first.extra["Total Charges"] == "108.15"
    assert first.extra["Lat Long"] == "33.964131, -118.272783"
    # A blank Total Charges (new customers) is simply absent from extra.
    assert "Total Charges" not in items[2].extra


def test_kaggle_telco_headers():
    headers = ["customerID", "gender", "tenure", "Contract", "MonthlyCharges"]
    mapping = csvparse.suggest_mapping([*headers, "TotalCharges", "Churn"])
    assert mapping == {
        "customerID": "external_id",
        "gender": None,
        "tenure": "tenure_months",
        "Contract": "plan",
        "MonthlyCharges": "monthly_revenue",
        "TotalCharges": "lifetime_value",
        "Churn": "status",
    }


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Customer ID", "external_id"),
        ("customer_id", "external_id"),
        ("Klant-ID", "external_id"),
        ("ID", "external_id"),
        ("E-mail", "email"),
        ("Emailadres", "email"),
        ("Mail", "email"),
        ("Full name", "name"),
        ("Klantnaam", "name"),
        ("Mobiel", "phone"),
        ("Locale", "language"),
        ("Opzegdatum", "departed_at"),
        ("Churn Date", "departed_at"),
        ("Cancellation date", "departed_at"),
        ("Einddatum", "departed_at"),
        ("Cancelled at", "departed_at"),
        ("Product", "plan"),
        ("Looptijd (maanden)", "tenure_months"),
        ("MRR", "monthly_revenue"),
        ("Maandbedrag (€)", "monthly_revenue"),
        ("Maandbedrag EUR", "monthly_revenue"),
        ("CLV", "lifetime_value"),
        ("Lifetime value", "lifetime_value"),
        ("Plaats", None),
        ("Churn Reason", "stated_reason"),
        ("Churn Category", "stated_reason"),
        ("Reden opzegging", "stated_reason"),
        ("Opzegreden", "stated_reason"),
        ("Reason", "stated_reason"),
        ("Comment", "stated_comment"),
        ("Comments", "stated_comment"),
        ("Opmerking", "stated_comment"),
        ("Toelichting", "stated_comment"),
        ("Feedback", "stated_comment"),
        ("Churn", "status"),
        ("Churn Label", "status"),
        ("Churned", "status"),
        ("Exited", "status"),
        ("Attrition_Flag", "status"),
        ("Customer Status", "status"),
        ("Status", "status"),
        ("Klantstatus", "status"),
        ("Opgezegd", "status"),
        ("Vertrokken", "status"),
        ("Actief", "status"),
        # Activity is not whether someone is a customer; a score is no status.
        ("IsActiveMember", None),
        ("Churn Score", None),
        ("Tenure (years)", "tenure_months"),
        ("Jaren klant", "tenure_months"),
        ("Months_on_book", "tenure_months"),
        # A customer number in one word, as database exports name it.
        ("CLIENTNUM", "external_id"),
        ("CustID", "external_id"),
        ("AcctNo", "external_id"),
        ("MemberNumber", "external_id"),
        ("Account length", None),
        ("RowNumber", None),
    ],
)
def test_header_names(header, target):
    assert csvparse.suggest_mapping([header])[header] == target


def test_quoted_fields_with_delimiters_and_newlines(tmp_path):
    data = (
        b"ID;Email;Naam;Opmerking\r\n"
        b'1;a@b.nl;"de Vries; Jan";"regel een\r\nregel twee\r\nregel drie"\r\n'
        b'2;b@b.nl;"Piet ""PJ"" Jansen";kort\r\n'
        b'3;not-an-email;x;"nog\neen"\r\n'
        b"4;c@b.nl;y;z\r\n"
    )
    items = parse_file(write(tmp_path, data))
    assert [(i.line, i.row) for i in items] == [(2, 2), (5, 3), (6, 4), (8, 5)]
    assert items[0].fields["name"] == "de Vries; Jan"
    assert items[0].fields["stated_comment"] == (
        "regel een\r\nregel twee\r\nregel drie"
    )
    assert items[1].fields["name"] == 'Piet "PJ" Jansen'
    assert isinstance(items[2], RowError)
    assert codes(items[2]) == [("Email", "invalid_email")]


def test_bad_rows_among_good_ones(tmp_path):
    text = (
        "Klantnummer;E-mail;Opzegdatum;Maandbedrag;Looptijd;Taal;Telefoon\n"  # 1
        "1;a@x.nl;31-01-2024;10,00;12;nl;0612345678\n"  # 2 good
        "2;kapot@;31-01-2024;10,00;12;nl;\n"  # 3 bad email
        "3;c@x.nl;32-01-2024;10,00;12;nl;\n"  # 4 bad date
        "4;d@x.nl;31-01-2024;-5,00;12;nl;\n"  # 5 negative revenue
        ";;31-01-2024;10,00;12;nl;\n"  # 6 no id, no email
        "6;f@x.nl;31-01-2024;tien;12,5;fr;geen\n"  # 7 four errors
        "\n"  # 8 blank, skipped
        "7;g@x.nl;2024-01-31T10:00:00Z;10;0;EN;+31 6 1234 5678\n"  # 9 good
        "8;h@x.nl;31-01-2024;10;1;nl;;onverwacht\n"  # 10 too many columns
        "9;i@x.nl;31-01-2024;10;1;nl;;\n"  # 11 trailing empty value: good
    )
    items = parse_file(write(tmp_path, text.encode()))
    assert [r.fields["external_id"] for r in records(items)] == ["1", "4", "7", "9"]
    found = {e.line: codes(e) for e in row_errors(items)}
    assert found == {
        3: [("E-mail", "invalid_email")],
        4: [("Opzegdatum", "unparseable_date")],
        6: [(None, "missing_id_and_email")],
        7: [
            ("Maandbedrag", "bad_number"),
            ("Looptijd", "bad_integer"),
            ("Taal", "unknown_language"),
            ("Telefoon", "phone_without_digits"),
        ],
        10: [(None, "too_many_columns")],
    }
    bad = row_errors(items)
    assert bad[0].raw["E-mail"] == "kapot@"
    assert bad[0].errors[0].message_nl.startswith("Geen geldig e-mailadres")
    assert bad[0].errors[0].message_en.startswith("Not a valid e-mail address")
    good = records(items)
    # A negative amount (a credit) leaves out that value, not the row.
    credit = good[1]
    assert (credit.line, credit.fields["monthly_revenue"]) == (5, None)
    assert credit.fields["tenure_months"] == 12
    assert [(w.column, w.code) for w in credit.warnings] == [
        ("Maandbedrag", "negative_amount")
    ]
    assert "-5,00" in credit.warnings[0].message_en
    assert [r.warnings for r in good if r is not credit] == [(), (), ()]
    assert good[2].fields["departed_at"] == datetime(2024, 1, 31, 10, tzinfo=UTC)
    assert good[2].fields["language"] == "en"
    assert good[2].fields["tenure_months"] == 0
    assert good[2].fields["phone"] == "+31 6 1234 5678"


def test_max_errors_stops_a_hopeless_file(tmp_path):
    text = "ID,Email\n" + "".join(f"{i},bad{i}\n" for i in range(10))
    with write(tmp_path, text.encode()).open("rb") as f:
        items = parse(f, max_errors=3)
        assert [type(next(items)) for _ in range(3)] == [RowError] * 3
        with pytest.raises(CsvFormatError) as exc:
            next(items)
    assert exc.value.code == "too_many_errors"
    assert exc.value.line == 5


# --- Mapping ---------------------------------------------------------------


def test_duplicate_mapping_is_an_error_before_any_row(tmp_path):
    path = write(tmp_path, b"ID,Email,Mail\n1,a@b.nl,c@d.nl\n")
    with path.open("rb") as f:
        with pytest.raises(CsvFormatError) as exc:
            parse(f, {"Email": "email", "Mail": "email"})
    assert exc.value.code == "duplicate_mapping"
    assert "'Email', 'Mail'" in exc.value.message_en
    assert "kies er één" in exc.value.message_nl


def test_suggestion_never_maps_two_columns_to_one_field():
    mapping = csvparse.suggest_mapping(["Email", "E-mailadres", "Telefoon", "Mobiel"])
    assert mapping == {
        "Email": "email",
        "E-mailadres": None,
        "Telefoon": "phone",
        "Mobiel": None,
    }


def test_unknown_mapping_target_and_header(tmp_path):
    path = write(tmp_path, b"ID,Email\n1,a@b.nl\n")
    with path.open("rb") as f:
        with pytest.raises(CsvFormatError) as exc:
            parse(f, {"ID": "customer_number", "Nope": "email"})
    assert [p.code for p in exc.value.problems] == [
        "unknown_mapping_field",
        "unknown_header",
    ]
    assert exc.value.problems[1].header == "Nope"


def test_user_mapping_override(tmp_path):
    data = b"Nummer;Klant;Contact;Geheim\n1;Bakkerij Jansen;info@jansen.nl;123\n"
    path = write(tmp_path, data)
    with path.open("rb") as f:
        found = detect(f)
    assert found.mapping == {
        "Nummer": "external_id",
        "Klant": None,
        "Contact": None,
        "Geheim": None,
    }
    override = {"Klant": "name", "Contact": "email", "Geheim": SKIP}
    (record,) = parse_file(path, override)
    assert record.fields == {
        "external_id": "1",
        "name": "Bakkerij Jansen",
        "email": "info@jansen.nl",
    }
    assert record.extra == {}


def test_user_choice_takes_a_field_away_from_the_suggestion(tmp_path):
    path = write(tmp_path, b"ID,Relatiecode\n1,R-9\n")
    (record,) = parse_file(path, {"Relatiecode": "external_id"})
    assert record.fields == {"external_id": "R-9"}
    assert record.extra == {"ID": "1"}


def test_no_id_or_email_column(tmp_path):
    path = write(tmp_path, b"Naam,Plan\nJan,Plus\n")
    with path.open("rb") as f:
        assert [p.code for p in detect(f).problems] == ["no_id_column"]
    with path.open("rb") as f, pytest.raises(CsvFormatError) as exc:
        parse(f)
    assert exc.value.code == "no_id_column"


def test_extra_columns_kept_and_duplicate_headers_numbered(tmp_path):
    data = b"ID,Opmerking,Opmerking,,Land\n1,eerste,tweede,zonder kop,NL\n"
    (record,) = parse_file(write(tmp_path, data))
    assert record.fields["stated_comment"] == "eerste"  # the first is the comment
    assert record.extra == {
        "Opmerking (2)": "tweede",
        "column_4": "zonder kop",
        "Land": "NL",
    }


# --- File errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"\xef\xbb\xbf", "empty_file"),
        (b"\r\n\r\n  \r\n", "empty_file"),
        (b"PK\x03\x04\x14\x00\x06\x00", "spreadsheet_file"),
        (b"ID,Email\x00\x01\x02\n", "binary_file"),
        (b"jan@example.nl,Jan\npiet@example.nl,Piet\n", "no_header"),
        (b"ID,Naam\n1,caf\x81\n", "undecodable"),
    ],
)
def test_file_errors(tmp_path, data, code):
    path = write(tmp_path, data)
    with path.open("rb") as f, pytest.raises(CsvFormatError) as exc:
        detect(f)
    assert exc.value.code == code
    with path.open("rb") as f, pytest.raises(CsvFormatError) as exc:
        list(parse(f))
    assert exc.value.code == code
    assert exc.value.message_en and exc.value.message_nl
    assert exc.value.message_en != exc.value.message_nl


def test_undecodable_byte_late_in_a_cp1252_file(tmp_path, monkeypatch):
    monkeypatch.setattr(csvparse, "SAMPLE_SIZE", 32)
    data = "ID;Naam\n1;Müller\n".encode("cp1252") + b"2;a\n" * 20 + b"3;\x81\n"
    with write(tmp_path, data).open("rb") as f, pytest.raises(CsvFormatError) as exc:
        list(parse(f))
    assert exc.value.code == "undecodable"


def test_utf16_excel_unicode_text(tmp_path):
    data = "Klant-ID\tNaam\r\n5\tÅsa\r\n".encode("utf-16")
    (record,) = parse_file(write(tmp_path, data))
    assert record.fields == {"external_id": "5", "name": "Åsa"}


# --- Values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-31", datetime(2024, 3, 31, tzinfo=UTC)),
        ("2024-03-31 10:15", datetime(2024, 3, 31, 10, 15, tzinfo=UTC)),
        ("2024-03-31T10:00:00Z", datetime(2024, 3, 31, 10, tzinfo=UTC)),
        ("2024-03-31T12:00:00+02:00", datetime(2024, 3, 31, 10, tzinfo=UTC)),
        (
            "2024-03-31T12:00:00.123456+0200",
            datetime(2024, 3, 31, 10, 0, 0, 123456, UTC),
        ),
        ("31-03-2024", datetime(2024, 3, 31, tzinfo=UTC)),
        ("31/03/2024", datetime(2024, 3, 31, tzinfo=UTC)),
        ("31.03.2024", datetime(2024, 3, 31, tzinfo=UTC)),
        ("1-4-2024", datetime(2024, 4, 1, tzinfo=UTC)),
        ("04/03/2024", datetime(2024, 3, 4, tzinfo=UTC)),  # day first
        ("03/31/2024", datetime(2024, 3, 31, tzinfo=UTC)),  # only month-first fits
        ("31-03-2024 23:59", datetime(2024, 3, 31, 23, 59, tzinfo=UTC)),
    ],
)
def test_dates(text, expected):
    clean, errors = validate_record({"email": "a@b.nl", "departed_at": text})
    assert errors == []
    assert clean["departed_at"] == expected
    assert clean["departed_at"].tzinfo is UTC


def test_month_first_order():
    clean, _ = validate_record(
        {"email": "a@b.nl", "departed_at": "04/03/2024"}, date_order="mdy"
    )
    assert clean["departed_at"] == datetime(2024, 4, 3, tzinfo=UTC)


def test_month_first_order_still_reads_unambiguous_day_first_dates():
    clean, _ = validate_record(
        {"email": "a@b.nl", "departed_at": "31/03/2024"}, date_order="mdy"
    )
    assert clean["departed_at"] == datetime(2024, 3, 31, tzinfo=UTC)


def test_detect_suggests_month_first_from_the_preview(tmp_path):
    data = b"Email,Cancelled at\na@b.nl,03/31/2024\nb@b.nl,04/02/2024\n"
    with write(tmp_path, data).open("rb") as f:
        assert detect(f).date_order == "mdy"


@pytest.mark.parametrize(
    "text", ["31-02-2024", "2024-13-01", "13/13/2024", "yesterday", "31-03-24", "1-2"]
)
def test_bad_dates(text):
    _, errors = validate_record({"email": "a@b.nl", "departed_at": text})
    assert [e.code for e in errors] == ["unparseable_date"]
    assert errors[0].column == "departed_at"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12,50", "12.50"),
        ("12.50", "12.50"),
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("€ 12,50", "12.50"),
        ("€12,5", "12.50"),
        ("EUR 1 234,56", "1234.56"),
        ("1.234.567,89", "1234567.89"),
        ("1,234,567", "1234567.00"),
        ("1.234", "1234.00"),
        ("0,125", "0.13"),
        ("12", "12.00"),
        ("+7", "7.00"),
        ("$ 99.999", "99999.00"),
        ("12.345,6", "12345.60"),
    ],
)
def test_amounts(text, expected):
    clean, errors = validate_record({"email": "a@b.nl", "monthly_revenue": text})
    assert errors == []
    assert clean["monthly_revenue"] == Decimal(expected)
    assert str(clean["monthly_revenue"]) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("-12,50", "negative_revenue"),
        ("(12,50)", "negative_revenue"),
        ("12,50-", "negative_revenue"),
        ("twaalf", "bad_number"),
        ("1,2,3.4.5", "bad_number"),
        ("12,50,1", "bad_number"),
        ("1.23.4", "bad_number"),
        ("1,5e3", "bad_number"),
        ("99999999999999", "number_too_large"),
    ],
)
def test_bad_amounts(text, code):
    _, errors = validate_record({"email": "a@b.nl", "lifetime_value": text})
    assert [(e.column, e.code) for e in errors] == [("lifetime_value", code)]


@pytest.mark.parametrize(
    ("text", "expected"), [("12", 12), ("12,0", 12), ("0", 0), ("36.0", 36)]
)
def test_tenure(text, expected):
    clean, errors = validate_record({"email": "a@b.nl", "tenure_months": text})
    assert errors == []
    assert clean["tenure_months"] == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [("12,5", "bad_integer"), ("-1", "negative_tenure"), ("veel", "bad_number")],
)
def test_bad_tenure(text, code):
    _, errors = validate_record({"email": "a@b.nl", "tenure_months": text})
    assert [e.code for e in errors] == [code]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NL", "nl"),
        ("nl-NL", "nl"),
        ("nl_BE", "nl"),
        ("Nederlands", "nl"),
        ("Dutch", "nl"),
        ("English", "en"),
        ("en_GB", "en"),
        ("en-US", "en"),
        ("Engels", "en"),
        ("  EN ", "en"),
        ("", None),
    ],
)
def test_languages(text, expected):
    clean, errors = validate_record({"email": "a@b.nl", "language": text})
    assert errors == []
    assert clean["language"] == expected


@pytest.mark.parametrize("text", ["fr", "Deutsch", "nederlands-x", "xx-NL", "n"])
def test_unknown_languages(text):
    _, errors = validate_record({"email": "a@b.nl", "language": text})
    assert [e.code for e in errors] == ["unknown_language"]


def test_strings_are_trimmed_and_empty_means_none():
    clean, errors = validate_record(
        {"external_id": "  42 ", "email": " ", "name": "\tJan ", "plan": ""}
    )
    assert errors == []
    assert clean == {"external_id": "42", "email": None, "name": "Jan", "plan": None}


def test_too_long_values():
    _, errors = validate_record({"external_id": "x" * 101, "region": "r" * 101})
    assert [(e.column, e.code) for e in errors] == [
        ("external_id", "too_long"),
        ("region", "too_long"),
    ]


# The fast check must agree with email_validator on every address.
EMAILS = [
    "a@b.co",
    "Jan.Jansen@Voorbeeld.NL",
    "first+tag@sub.domain.example.com",
    "o'brien@example.ie",
    "x@ab--c.com",
    "x@xn--bcher-kva.de",
    "a..b@x.nl",
    ".a@x.nl",
    "a.@x.nl",
    "a@x.local",
    "a@sub.test",
    "a@x.arpa",
    "a@localhost",
    "a@x.com.",
    "a@-x.com",
    "a@x-.com",
    "a@x.c1",
    "a@x.c",
    "a@1.com",
    "a b@x.nl",
    "a@x..nl",
    "@x.nl",
    "a@",
    "a@@x.nl",
    "jürgen@müller.de",
    "JÜRGEN@x.de",
    "a" * 64 + "@x.nl",
    "a" * 65 + "@x.nl",
    "a@" + "b" * 63 + ".nl",
    "a@" + "b" * 64 + ".nl",
    "a@" + ".".join(["b" * 60] * 4) + ".nl",
    '"quoted"@x.nl',
    "a@[127.0.0.1]",
    "name <a@x.nl>",
]


@pytest.mark.parametrize("address", EMAILS)
def test_email_fast_path_agrees_with_email_validator(address):
    try:
        expected = validate_email(address, check_deliverability=False).normalized
        expected = expected.lower()
    except EmailNotValidError:
        expected = None
    clean, errors = validate_record({"email": address})
    if expected is None:
        assert [e.code for e in errors] == ["invalid_email"]
    else:
        assert errors == []
        assert clean["email"] == expected


def test_typed_values_from_json():
    clean, errors = validate_record(
        {
            "external_id": 12345,
            "email": "A@B.NL",
            "departed_at": datetime(
                2024, 3, 31, 12, tzinfo=timezone(timedelta(hours=2))
            ),
            "tenure_months": 7,
            "monthly_revenue": 12.5,
            "lifetime_value": Decimal("99.999"),
            "language": "nl-NL",
        }
    )
    assert errors == []
    assert clean == {
        "external_id": "12345",
        "email": "a@b.nl",
        "departed_at": datetime(2024, 3, 31, 10, tzinfo=UTC),
        "tenure_months": 7,
        "monthly_revenue": Decimal("12.50"),
        "lifetime_value": Decimal("100.00"),
        "language": "nl",
    }
    clean, errors = validate_record(
        {"email": "a@b.nl", "departed_at": date(2024, 1, 2)}
    )
    assert clean["departed_at"] == datetime(2024, 1, 2, tzinfo=UTC)


def test_typed_values_rejected():
    _, errors = validate_record(
        {
            "email": "a@b.nl",
            "tenure_months": True,
            "monthly_revenue": -1,
            "lifetime_value": float("nan"),
            "departed_at": 20240101,
            "plan": 5,
            "favourite_colour": "blue",
        }
    )
    assert [(e.column, e.code) for e in errors] == [
        ("tenure_months", "invalid_value"),
        ("monthly_revenue", "negative_revenue"),
        ("lifetime_value", "bad_number"),
        ("departed_at", "invalid_value"),
        ("plan", "invalid_value"),
        ("favourite_colour", "unknown_field"),
    ]


def test_json_and_csv_paths_agree(tmp_path):
    rows = [
        ["1", "A@B.nl", "31-03-2024", "1.234,56", "12,0", "Engels", "06 1"],
        ["", "", "31-03-2024", "", "", "", ""],
        ["3", "bad@", "2024-02-30", "-1", "1,5", "fr", "geen"],
        ["4", "", "", "€ 5", "", "", ""],
    ]
    fields = [
        "external_id",
        "email",
        "departed_at",
        "monthly_revenue",
        "tenure_months",
        "language",
        "phone",
    ]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(fields)
    writer.writerows(rows)
    items = parse_file(write(tmp_path, out.getvalue().encode()))
    for row, item in zip(rows, items, strict=True):
        clean, errors = validate_record(dict(zip(fields, row, strict=True)))
        # The API refuses a negative amount; a file's row leaves it out with a
        # warning (the row has other errors here).
        errors = [e for e in errors if e.code != "negative_revenue"]
        if errors:
            assert isinstance(item, RowError)
            assert codes(item) == [(e.column, e.code) for e in errors]
            assert [w.code for w in item.warnings] == (
                ["negative_amount"] if "-1" in row else []
            )
        else:
            assert isinstance(item, Record)
            assert item.fields == clean


# --- Rejected rows file ----------------------------------------------------


def test_rejected_rows_csv_round_trip(tmp_path):
    data = (
        "Klantnummer;E-mail;Naam\r\n"
        "1;goed@x.nl;Jan\r\n"
        '2;kapot@;"Piet\r\nPietersen"\r\n'
        ";;Zonder\r\n"
        "4;d@x.nl;Kees;extra\r\n"
    ).encode("cp1252")
    items = parse_file(write(tmp_path, data))
    bad = row_errors(items)
    assert [e.line for e in bad] == [3, 5, 6]
    output = rejected_rows_csv(bad, lang="nl", delimiter=";", encoding="cp1252")
    assert not output.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(output.decode("cp1252")), delimiter=";"))
    assert table[0] == ["Karn regel", "Karn reden", "Klantnummer", "E-mail", "Naam"]
    assert table[1][0] == "3"
    assert table[1][1].startswith("E-mail: Geen geldig e-mailadres: 'kapot@'")
    assert table[1][2:] == ["2", "kapot@", "Piet\r\nPietersen"]
    assert table[2][1] == "De rij heeft geen klantnummer en geen e-mailadres"
    assert table[3][1].startswith("De rij heeft 4 waarden")
    assert table[3][2:] == ["4", "d@x.nl", "Kees", "extra"]

    # Fixed and uploaded again: the added columns are ignored, not kept as extra.
    table[1][3] = "piet@x.nl"
    fixed = io.StringIO()
    csv.writer(fixed, delimiter=";").writerows(table[:2])
    again = parse_file(write(tmp_path, fixed.getvalue().encode(), "fixed.csv"))
    assert len(again) == 1
    assert again[0].fields == {
        "external_id": "2",
        "email": "piet@x.nl",
        "name": "Piet\r\nPietersen",
    }
    assert again[0].extra == {}


def test_rejected_rows_csv_english_and_empty():
    assert rejected_rows_csv([], ["A"]) == b"\xef\xbb\xbfKarn line,Karn reason,A\r\n"
    assert rejected_rows_csv([]) == b"\xef\xbb\xbf"


# --- Streaming -------------------------------------------------------------


def test_hundred_thousand_rows_stream_in_constant_memory(tmp_path):
    path = tmp_path / "big.csv"
    rows = 100_000
    with path.open("w", encoding="cp1252", newline="") as out:
        out.write("Klantnummer;E-mail;Naam;Opzegdatum;Maandbedrag;Opmerking\r\n")
        for i in range(rows):
            email = f"klant{i}@voorbeeld.nl" if i % 1000 else "kapot"
            out.write(
                f"{i};{email};Klant Müller {i};{i % 28 + 1}-{i % 12 + 1}-2024;"
                f'€ {i % 500},{i % 100:02d};"opmerking {i}; met tekst"\r\n'
            )
    size = path.stat().st_size
    assert size > 8_000_000

    good = bad = 0
    last_line = 0
    tracemalloc.start()
    try:
        with path.open("rb") as f:
            for item in parse(f):
                assert item.line == last_line + 1 or item.line == 2
                last_line = item.line
                if isinstance(item, Record):
                    good += 1
                else:
                    bad += 1
                    assert item.errors[0].code == "invalid_email"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (good, bad) == (rows - 100, 100)
    assert last_line == rows + 1
    # Reading the whole file would need more than its size; streaming needs
    # buffers and bounded caches only.
    assert peak < 3_000_000 < size


# --- Faults: quotes, short rows, stray bytes, NULs, duplicates, dates -------


def total_rows(items) -> int:
    """The data rows parse() accounted for: a swallowed line counts as a row."""
    return sum(i.count if isinstance(i, RowError) else 1 for i in items)


@pytest.mark.parametrize(
    ("data", "lines", "after"),
    [
        # The quote runs to the end of the file.
        (
            b"ID;Email;Naam;Plan\r\n"
            b"1;a@x.nl;Ann;Basis\r\n"
            b'2;b@x.nl;"Jan de Vries;Plus\r\n'
            b"3;c@x.nl;Cor;Basis\r\n"
            b"4;d@x.nl;Dirk;Plus\r\n",
            (3, 5),
            [],
        ),
        # The quote is closed by the first quote of a later row; rows after
        # that one are read as rows again.
        (
            b"ID,Email,Naam,Plan\n"
            b"1,a@x.nl,Ann,Basis\n"
            b'2,b@x.nl,"Jan de Vries,Plus\n'
            b"3,c@x.nl,Cor,Basis\n"
            b'4,d@x.nl,"Dirk",Plus\n'
            b"5,e@x.nl,Eva,Basis\n",
            (3, 5),
            ["5"],
        ),
        # With more columns the value closes mid-row: the row no longer fits.
        (
            b"ID,Email,Naam,Plan\n"
            b"1,a@x.nl,Ann,Basis\n"
            b'2,b@x.nl,"Jan,Plus\n'
            b'3,"c@x.nl",Cor,Basis\n'
            b"4,d@x.nl,Dirk,Plus\n",
            (3, 4),
            ["4"],
        ),
    ],
    ids=["to-the-end", "closed-by-a-later-quote", "closed-mid-row"],
)
def test_a_quote_left_open_rejects_the_lines_it_swallowed(tmp_path, data, lines, after):
    items = parse_file(write(tmp_path, data))
    assert [r.fields["external_id"] for r in records(items)] == ["1", *after]
    (error,) = row_errors(items)
    assert (error.line, error.end_line, error.count) == (
        *lines,
        lines[1] - lines[0] + 1,
    )
    assert codes(error) == [("Naam", "unclosed_quote")]
    first, last = lines
    assert error.errors[0].message_en.startswith(f"Lines {first}–{last}: a quote")
    assert error.errors[0].message_nl.startswith(f"Regels {first}–{last}: een")
    # Nothing vanished: every data line of the file is imported or rejected.
    assert total_rows(items) == data.count(b"\n") - 1


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_quoted_comment_of_several_lines_still_imports(tmp_path, delimiter):
    d = delimiter
    data = (
        f'ID{d}Email{d}Naam{d}Opmerking\n1{d}a@x.nl{d}Ann{d}"regel een\n'
        f'regel twee{d} met een scheidingsteken"\n2{d}b@x.nl{d}Bob{d}kort\n'
    ).encode()
    first, second = parse_file(write(tmp_path, data))
    assert isinstance(first, Record) and isinstance(second, Record)
    assert first.fields["stated_comment"] == (
        f"regel een\nregel twee{d} met een scheidingsteken"
    )
    assert (first.line, second.line) == (2, 4)


def test_a_row_short_of_values_is_rejected(tmp_path):
    data = (
        b"ID;Email;Naam;Plan\n"
        b"1;a@x.nl;Ann;Basis\n"
        b"2;b@x.nl\n"  # short: Naam and Plan lost, maybe shifted
        b"3;c@x.nl;;\n"  # empty values, but all of them there: fine
        b"4;d@x.nl;Dirk;Plus;;\n"  # empty values past the header: fine
        b"5;e@x.nl;Eva;Plus;Extra\n"  # a value past the header
    )
    items = parse_file(write(tmp_path, data))
    assert [r.fields["external_id"] for r in records(items)] == ["1", "3", "4"]
    found = {e.line: codes(e) for e in row_errors(items)}
    assert found == {3: [(None, "too_few_columns")], 6: [(None, "too_many_columns")]}
    short = row_errors(items)[0].errors[0]
    assert short.message_en.startswith("The row has 2 values but the header has 4")
    assert "ontbreekt" in short.message_nl


def test_a_header_with_empty_trailing_columns_does_not_make_rows_short(tmp_path):
    # Excel writes a separator for each empty column of the header row.
    data = b"ID;Email;;\n1;a@x.nl\n"
    (record,) = parse_file(write(tmp_path, data))
    assert record.fields == {"external_id": "1", "email": "a@x.nl"}


MIXED = "ID;Naam;Plaats\n1;José Müller;Zürich\n".encode() + b"2;Ren\xe9e;Gent\n"


def test_one_windows_1252_byte_in_a_utf8_sample(tmp_path):
    path = write(tmp_path, MIXED)
    with path.open("rb") as f:
        found = detect(f)
    assert found.encoding == "utf-8"
    assert found.preview_rows[0]["Naam"] == "José Müller"
    assert [w.message_en for w in found.warnings] == [
        "1 byte is not UTF-8 and was read as Windows-1252 (on line 3); check the "
        "characters on that line"
    ]
    with path.open("rb") as f:
        rows = parse(f)
        first, second = rows
    assert (first.fields["name"], second.fields["name"]) == ("José Müller", "Renée")
    assert first.extra == {"Plaats": "Zürich"}
    (warning,) = rows.warnings
    assert warning.code == "stray_byte"
    assert "regel 3" in warning.message_nl


def test_windows_1252_bytes_after_a_utf8_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(csvparse, "SAMPLE_SIZE", 64)
    rows = "".join(f"{i};Zoë {i};Gent\n" for i in range(2, 40)).encode()
    late = "40;Müller;Köln\n41;Renée;Gent\n".encode("cp1252")
    path = write(tmp_path, "ID;Naam;Plaats\n1;Zoë;Gent\n".encode() + rows + late)
    with path.open("rb") as f:
        found = detect(f)
    assert (found.encoding, found.warnings) == ("utf-8", [])  # not in the sample
    with path.open("rb") as f:
        parsed = parse(f)
        items = list(parsed)
    assert [i.fields["name"] for i in items[-2:]] == ["Müller", "Renée"]
    assert items[0].fields["name"] == "Zoë"
    (warning,) = parsed.warnings
    assert warning.message_en.startswith("3 bytes are not UTF-8")
    assert "(the first on line 41)" in warning.message_en


def test_a_windows_1252_file_stays_windows_1252_without_warnings(tmp_path):
    data = "ID;Naam\n1;José Müller\n2;Renée\n3;Ã©\n".encode("cp1252")
    with write(tmp_path, data).open("rb") as f:
        found = detect(f)
    assert (found.encoding, found.warnings) == ("cp1252", [])
    with write(tmp_path, data).open("rb") as f:
        rows = parse(f)
        names = [r.fields["name"] for r in rows]
    assert names == ["José Müller", "Renée", "Ã©"]
    assert rows.warnings == []


def test_a_nul_byte_rejects_only_its_rows(tmp_path):
    data = (
        b"ID,Email,Naam\n"
        b"1,a@x.nl,Ann\n"
        b"2,b@x.nl,B\x00b\n"
        b"3,c@x.nl,Cor\n"
        b"4,d@x.nl," + b"\x00" * 5000 + b"\n"  # a block of zeros left by a crash
        b"5,e@x.nl,Eva\n"
    )
    items = parse_file(write(tmp_path, data))
    assert [r.fields["external_id"] for r in records(items)] == ["1", "3", "5"]
    assert {e.line: codes(e) for e in row_errors(items)} == {
        3: [(None, "nul_byte")],
        5: [(None, "nul_byte")],
    }
    # The rejected-rows file, for correcting by hand, has no invisible NULs.
    rejected = rejected_rows_csv(row_errors(items))
    assert b"\x00" not in rejected and b"Bb" in rejected


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        "ID,Email\n1,a@x.nl\n".encode("utf-16-le"),  # UTF-16 without its BOM
        bytes(range(256)) * 8,
    ],
)
def test_binary_files_are_still_refused_whole(tmp_path, data):
    with write(tmp_path, data).open("rb") as f, pytest.raises(CsvFormatError) as exc:
        list(parse(f))
    assert exc.value.code == "binary_file"


def test_a_customer_number_twice_rejects_the_later_rows(tmp_path):
    data = (
        b"Klantnummer;E-mail;Naam\n"
        b"K1;a@x.nl;Ann\n"
        b"K2;b@x.nl;Bob\n"
        b"K1;ander@x.nl;Iemand anders\n"
        b";c@x.nl;Cor\n"
        b";C@X.nl;Cor again\n"  # no number: the same address is the same person
        b"K3;c@x.nl;Cor with a number\n"  # a number: another customer
        b"K1;a@x.nl;Ann\n"
    )
    path = write(tmp_path, data)
    with path.open("rb") as f:
        items = list(parse(f, reject_duplicates=True))
    assert [(r.fields["external_id"], r.fields["name"]) for r in records(items)] == [
        ("K1", "Ann"),
        ("K2", "Bob"),
        (None, "Cor"),
        ("K3", "Cor with a number"),
    ]
    found = {e.line: codes(e) for e in row_errors(items)}
    assert found == {
        4: [("Klantnummer", "duplicate_id")],
        6: [("E-mail", "duplicate_email")],
        8: [("Klantnummer", "duplicate_id")],
    }
    messages = [e.errors[0].message_en for e in row_errors(items)]
    assert messages[0] == (
        "Customer number 'K1' is also on line 2; only the first row with it is imported"
    )
    assert "'c@x.nl' is also on line 5" in messages[1]
    # Without the option parse() remembers nothing (memory stays flat).
    assert row_errors(parse_file(path)) == []


def test_a_rejected_row_does_not_count_as_the_first(tmp_path):
    data = b"ID,Email\nK1,not-an-address\nK1,a@x.nl\n"
    with write(tmp_path, data).open("rb") as f:
        items = list(parse(f, reject_duplicates=True))
    assert codes(items[0]) == [("Email", "invalid_email")]
    assert items[1].fields == {"external_id": "K1", "email": "a@x.nl"}


@pytest.fixture
def frozen_clock():
    from karn import clock

    clock.freeze(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    yield
    clock.freeze(None)


@pytest.mark.usefixtures("frozen_clock")
def test_a_departure_more_than_a_year_ahead_is_rejected(tmp_path):
    data = (
        b"ID,Email,Opzegdatum\n"
        b"1,a@x.nl,10-12-2026\n"  # a few days ahead: a notice period
        b"2,b@x.nl,2027-12-07\n"  # a year ahead
        b"3,c@x.nl,15-01-2099\n"
        b"4,d@x.nl,2028-01-01\n"
    )
    items = parse_file(write(tmp_path, data))
    assert [r.fields["external_id"] for r in records(items)] == ["1", "2"]
    assert [codes(e) for e in row_errors(items)] == [
        [("Opzegdatum", "future_date")]
    ] * 2
    assert row_errors(items)[0].errors[0].message_en == (
        "The departure date '15-01-2099' is more than a year in the future"
    )
    # The same rule for the API's and the form's values, typed or not.
    for value in ("2099-01-15", datetime(2099, 1, 15, tzinfo=UTC), date(2099, 1, 15)):
        _, errors = validate_record({"email": "a@b.nl", "departed_at": value})
        assert [(e.column, e.code) for e in errors] == [("departed_at", "future_date")]
    clean, errors = validate_record(
        {"email": "a@b.nl", "departed_at": date(2027, 3, 1)}
    )
    assert errors == [] and clean["departed_at"] == datetime(2027, 3, 1, tzinfo=UTC)


# --- Status, stated reasons, comments, credits and tenure --------------------


def only_record(tmp_path, text: str, **kwargs) -> Record:
    (item,) = parse_file(write(tmp_path, text.encode()), **kwargs)
    assert isinstance(item, Record), codes(item)
    return item


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("Churn", "Yes", "departed"),
        ("Churn", "No", "active"),
        ("Churn Label", "Y", "departed"),
        ("Churn Label", "n", "active"),
        ("Churned", "1", "departed"),
        ("Churned", "0", "active"),
        ("Exited", "True", "departed"),
        ("Exited", "FALSE", "active"),
        ("Customer Status", "Churned", "departed"),
        ("Customer Status", "Stayed", "active"),
        ("Customer Status", "Joined", "active"),  # a new customer
        ("Attrition_Flag", "Attrited Customer", "departed"),
        ("Attrition_Flag", "Existing Customer", "active"),
        ("Status", "Left", "departed"),
        ("Status", "Active", "active"),
        ("Status", "Closed", "departed"),
        ("Status", "Open", "active"),
        ("Klantstatus", "Opgezegd", "departed"),
        ("Klantstatus", "Actief", "active"),
        ("Opgezegd", "Ja", "departed"),
        ("Opgezegd", "Nee", "active"),
        ("Vertrokken", "J", "departed"),
        ("Vertrokken", "N", "active"),
        # "Actief" asks the other question: yes means still a customer.
        ("Actief", "Ja", "active"),
        ("Actief", "Nee", "departed"),
        ("Actief", "1", "active"),
        ("Actief", "0", "departed"),
        ("Active", "no", "departed"),
        ("Actief", "Opgezegd", "departed"),  # a status word means what it says
        # Subscription exports of billing systems: an expired subscription
        # ended; one in trial or paused is still on.
        ("Subscription Status", "expired", "departed"),
        ("Subscription Status", "in_trial", "active"),
        ("Subscription Status", "paused", "active"),
        ("Account Status", "Inactive", "departed"),
        ("Status", "Customer", "active"),
    ],
)
def test_status_columns_and_values_are_read_without_hints(
    tmp_path, header, value, status
):
    path = write(tmp_path, f"Klantnummer;{header}\r\nK1;{value}\r\n".encode())
    with path.open("rb") as f:
        assert detect(f).mapping[header] == "status"
    (record,) = parse_file(path)
    assert record.fields["status"] == status
    assert record.extra == {}


def test_a_status_that_cannot_be_read_rejects_only_its_row(tmp_path):
    data = (
        "RowNumber,CustomerId,Exited\n"
        "1,15634602,1\n"
        "2,15647311,0\n"
        "3,12348743,50000\n"  # a malformed export line
        "4,15619304,\n"
    )
    items = parse_file(write(tmp_path, data.encode()))
    assert [r.fields["status"] for r in records(items)] == ["departed", "active"]
    first, empty = row_errors(items)
    assert (first.line, codes(first)) == (4, [("Exited", "unknown_status")])
    assert first.errors[0].message_en.startswith(
        "Cannot tell from '50000' whether the customer left"
    )
    assert first.errors[0].message_nl.startswith(
        "Uit '50000' valt niet op te maken of de klant is vertrokken"
    )
    assert codes(empty) == [("Exited", "missing_status")]


def test_yes_in_a_column_that_asks_nothing_cannot_be_read(tmp_path):
    data = "ID;Status\n1;Ja\n2;Opgezegd\n3;Actief\n"
    items = parse_file(write(tmp_path, data.encode()))
    assert [codes(e) for e in row_errors(items)] == [[("Status", "unknown_status")]]
    assert [r.fields["status"] for r in records(items)] == ["departed", "active"]


def test_the_user_says_what_a_value_means(tmp_path):
    data = "ID,Exited\n1,50000\n2,\n3,1\n4, True \n"
    choices = csvparse.Choices(
        status={"50000": "departed", "": "active", "true": "active"}
    )
    items = parse_file(write(tmp_path, data.encode()), choices=choices)
    assert [r.fields["status"] for r in items] == [
        "departed",
        "active",
        "departed",
        "active",  # the user's word wins over the column's
    ]


def test_a_status_column_that_holds_no_status_is_kept_as_an_attribute(tmp_path):
    # An invoice status is not whether someone left: nothing is rejected.
    data = "ID;Status;Plaats\n1;Paid;Delft\n2;Unpaid;Gouda\n3;Paid;Ede\n"
    path = write(tmp_path, data.encode())
    with path.open("rb") as f:
        assert detect(f).mapping == {
            "ID": "external_id",
            "Status": None,
            "Plaats": None,
        }
    items = parse_file(path)
    assert [r.extra["Status"] for r in items] == ["Paid", "Unpaid", "Paid"]
    assert all("status" not in r.fields for r in items)
    # Beside a column that does say it, the generic one is an attribute too.
    both = write(tmp_path, b"ID;Status;Churn\n1;Paid;Yes\n", "both.csv")
    (record,) = parse_file(both)
    assert (record.fields["status"], record.extra) == ("departed", {"Status": "Paid"})
    # Chosen by the user, the column is read all the same.
    items = parse_file(path, {"Status": "status"})
    assert {codes(e)[0][1] for e in row_errors(items)} == {"unknown_status"}


def test_active_rows_have_no_departure_date_and_departed_ones_may_lack_one(
    tmp_path,
):
    data = (
        "ID;Opzegdatum;Klantstatus\n"
        "1;15-10-2026;Opgezegd\n"
        "2;;Opgezegd\n"
        "3;20-10-2026;Actief\n"
    )
    path = write(tmp_path, data.encode())
    dates = [r.fields["departed_at"] for r in parse_file(path)]
    assert dates == [datetime(2026, 10, 15, tzinfo=UTC), None, None]
    on = csvparse.Choices(departed_on=date(2026, 11, 2))
    dates = [r.fields["departed_at"] for r in parse_file(path, choices=on)]
    assert dates == [
        datetime(2026, 10, 15, tzinfo=UTC),
        datetime(2026, 11, 2, tzinfo=UTC),
        None,
    ]


def test_a_snapshot_without_dates_has_unknown_departure_dates(tmp_path):
    items = parse_file(write(tmp_path, b"id,Churn\n1,Yes\n2,No\n"))
    assert [r.fields for r in items] == [
        {"external_id": "1", "status": "departed", "departed_at": None},
        {"external_id": "2", "status": "active", "departed_at": None},
    ]
    # A file without a status: every row a departure, as before.
    (plain,) = parse_file(write(tmp_path, b"id,email\n1,a@b.nl\n"))
    assert plain.fields == {"external_id": "1", "email": "a@b.nl"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Competitor offered higher download speeds", "brand"),
        ("Competitor made better offer", "brand"),
        ("Price too high", "price"),
        ("Moved", "need"),
        ("Attitude of support person", "service"),
        ("Te duur", "price"),
        ("Overgestapt naar concurrent", "brand"),
        ("Slechte klantenservice", "service"),
        ("Geen behoefte meer", "need"),
        ("price", "price"),
        ("Kwaliteit", "quality"),
        ("too_expensive", "price"),  # Stripe's feedback code
        ("Don't know", "other"),
    ],
)
def test_stated_reasons_become_reason_codes(tmp_path, value, reason):
    text = f'Klantnummer,Churn Reason\nK1,"{value}"\n'
    assert only_record(tmp_path, text).fields["stated_reason"] == reason


def test_the_user_corrects_the_code_of_a_reason_value(tmp_path):
    data = (
        "Klantnummer;Reden opzegging;Toelichting\n"
        "1;Verhuisd;Naar Spanje\n"
        "2;Onbekend;\n"
        "3;Te duur;Veel te duur geworden\n"
    )
    choices = csvparse.Choices(reasons={"VERHUISD": "other", "onbekend": None})
    items = parse_file(write(tmp_path, data.encode()), choices=choices)
    assert [(r.fields["stated_reason"], r.fields["stated_comment"]) for r in items] == [
        ("other", "Naar Spanje"),
        (None, None),
        ("price", "Veel te duur geworden"),
    ]


@pytest.mark.parametrize("amount", ["-12,50", "(12,50)", "12,50-", "\u221212,50"])
@pytest.mark.parametrize("column", ["Maandbedrag", "Klantwaarde"])
def test_a_negative_amount_is_left_out_and_the_row_kept(tmp_path, amount, column):
    other = "Klantwaarde" if column == "Maandbedrag" else "Maandbedrag"
    text = f"Klantnummer;{column};{other}\nK1;{amount};7,50\n"
    record = only_record(tmp_path, text)
    field_of = {"Maandbedrag": "monthly_revenue", "Klantwaarde": "lifetime_value"}
    assert record.fields[field_of[column]] is None
    assert record.fields[field_of[other]] == Decimal("7.50")
    (warning,) = record.warnings
    assert (warning.column, warning.code) == (column, "negative_amount")
    assert amount in warning.message_en and amount in warning.message_nl


def test_a_rejected_row_lists_its_warnings_too(tmp_path):
    items = parse_file(write(tmp_path, b"ID;E-mail;Maandbedrag\n1;kapot@;-5\n"))
    (error,) = row_errors(items)
    assert codes(error) == [("E-mail", "invalid_email")]
    assert [w.code for w in error.warnings] == ["negative_amount"]
    text = rejected_rows_csv(row_errors(items)).decode("utf-8-sig")
    assert "Not a valid e-mail address" in text and "A negative amount" in text


@pytest.mark.parametrize(
    ("header", "value", "months"),
    [
        ("Tenure (years)", "2,5", 30),
        ("Tenure_yrs", "1", 12),
        ("Jaren klant", "3", 36),
        ("Looptijd (jaren)", "10", 120),
        ("Looptijd (maanden)", "10", 10),
        ("Tenure", "3", 3),  # the name does not say years: months
        ("Months_on_book", "39", 39),
    ],
)
def test_tenure_is_read_as_years_only_when_the_name_says_so(
    tmp_path, header, value, months
):
    record = only_record(tmp_path, f"ID;{header}\n1;{value}\n")
    assert record.fields["tenure_months"] == months


def test_the_user_sets_the_tenure_unit(tmp_path):
    text = "ID;Tenure\n1;3\n"
    years = csvparse.Choices(tenure_unit="years")
    assert only_record(tmp_path, text, choices=years).fields["tenure_months"] == 36
    text = "ID;Tenure (years)\n1;3\n"
    months = csvparse.Choices(tenure_unit="months")
    assert only_record(tmp_path, text, choices=months).fields["tenure_months"] == 3

//! Black-box tests of the FetchXML export pieces: a query compiled against the standard
//! catalogue, run over in-memory rows the way the export plug-in pages through the store, and
//! written as CSV that must equal `golden/export.csv` byte for byte; and properties that no
//! input makes the parser panic and that the CSV reads back to the values written.

use bgops_core::catalogue::Catalogue;
use bgops_core::fetchxml::{compile, to_csv, FetchQuery};
use bgops_core::metadata::{Cell, Row};
use bgops_core::odata::eval::matches;
use bgops_core::Timestamp;
use proptest::prelude::*;

const GOLDEN: &[u8] = include_bytes!("golden/export.csv");

/// Every column of the account rows below, in table order, as the store would hold them.
fn stored_accounts() -> Vec<Row> {
    let created = Timestamp::parse_rfc3339("2024-03-01T08:30:05.250Z").unwrap();
    let guid = |s: &str| Cell::Guid(uuid::Uuid::parse_str(s).unwrap());
    let text = |s: &str| Cell::Text(s.to_owned());
    let account = |id: &str,
                   name: Cell,
                   description: Cell,
                   revenue: Cell,
                   employees: Cell,
                   on_hold: Cell,
                   industry: Cell,
                   contact: Cell| {
        vec![
            ("accountid", guid(id)),
            ("name", name),
            ("telephone1", Cell::Null),
            ("description", description),
            ("revenue", revenue),
            ("numberofemployees", employees),
            ("creditonhold", on_hold),
            ("industrycode", industry),
            ("primarycontactid", contact),
            ("createdon", Cell::DateTime(created)),
        ]
    };
    // In the plan's order (name, then id), as the store returns them.
    vec![
        account(
            "00000000-0000-0000-0000-0000000000a1",
            text(""),
            text("\"quoted\" only"),
            Cell::Decimal("-0.01".into()),
            Cell::Int(-3),
            Cell::Bool(false),
            Cell::Int(33),
            Cell::Null,
        ),
        account(
            "00000000-0000-0000-0000-0000000000A2",
            text("Café 漢字 😀"),
            Cell::Null,
            Cell::Null,
            Cell::Int(0),
            Cell::Bool(true),
            Cell::Null,
            Cell::Null,
        ),
        account(
            "00000000-0000-0000-0000-0000000000a3",
            text("Contoso \"Ltd\", Inc."),
            text("Line one\r\nLine two, with a comma"),
            Cell::Decimal("1234.5000".into()),
            Cell::Int(250),
            Cell::Bool(false),
            Cell::Int(7),
            guid("C9FDFE63-41E3-ED11-8845-0022480B2800"),
        ),
        // No name: the filter leaves it out.
        account(
            "00000000-0000-0000-0000-0000000000a4",
            Cell::Null,
            text("never exported"),
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
        ),
    ]
}

/// Runs `query` over `stored` as the export does: filter, then every page of `page_size` rows
/// from the first page asked for, up to `top`; each row holds the selected columns in order.
fn export(query: &FetchQuery, stored: &[Row]) -> Vec<Row> {
    let matching: Vec<&Row> = stored
        .iter()
        .filter(|row| query.plan.filter.as_ref().is_none_or(|f| matches(f, row)))
        .collect();
    let page_size = query.paging.page_size as usize;
    let mut offset = usize::try_from(query.paging.rows_to_skip()).unwrap();
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let page: Vec<&Row> = matching
            .iter()
            .skip(offset)
            .take(page_size)
            .copied()
            .collect();
        pages += 1;
        offset += page.len();
        for row in &page {
            out.push(
                query
                    .plan
                    .select
                    .iter()
                    .map(|c| {
                        let cell = row.iter().find(|(n, _)| *n == c.logical_name);
                        (c.logical_name, cell.map_or(Cell::Null, |(_, v)| v.clone()))
                    })
                    .collect(),
            );
        }
        let capped = query
            .paging
            .top
            .is_some_and(|top| out.len() >= top as usize);
        if capped || page.len() < page_size || offset >= matching.len() {
            break;
        }
    }
    assert!(pages > 1, "the query should need several pages");
    out
}

#[test]
fn the_export_csv_matches_the_golden_file() {
    let query = compile(
        r#"<fetch version="1.0" output-format="xml-platform" mapping="logical" count="2">
             <entity name="account">
               <attribute name="name" />
               <attribute name="description" />
               <attribute name="telephone1" />
               <attribute name="revenue" />
               <attribute name="numberofemployees" />
               <attribute name="creditonhold" />
               <attribute name="industrycode" />
               <attribute name="primarycontactid" />
               <attribute name="createdon" />
               <order attribute="name" />
               <filter type="and">
                 <condition attribute="name" operator="not-null" />
               </filter>
             </entity>
           </fetch>"#,
        &Catalogue::standard(),
    )
    .unwrap();
    let rows = export(&query, &stored_accounts());
    // `count="2"` is only the page size: all three matching rows are exported.
    assert_eq!(rows.len(), 3);
    let csv = to_csv(&rows);
    if csv.as_bytes() != GOLDEN {
        panic!(
            "CSV differs from golden/export.csv:\n--- got ---\n{csv:?}\n--- golden ---\n{:?}",
            String::from_utf8_lossy(GOLDEN)
        );
    }
}

#[test]
fn the_golden_file_reads_back_as_its_values() {
    let text = std::str::from_utf8(GOLDEN).unwrap();
    let records = read_csv(text).unwrap();
    assert_eq!(
        records[0],
        [
            "name",
            "description",
            "revenue",
            "numberofemployees",
            "creditonhold",
            "industrycode",
            "createdon",
            "accountid",
            // Null in the first rows, so first seen after the id.
            "primarycontactid",
        ]
    );
    assert_eq!(records.len(), 4);
    assert_eq!(records[3][0], "Contoso \"Ltd\", Inc.");
    assert_eq!(records[3][1], "Line one\r\nLine two, with a comma");
    assert_eq!(records[2][0], "Café 漢字 😀");
    assert_eq!(records[1][0], "");
    assert_eq!(records[1][8], "");
}

/// A strict RFC 4180 reader for the writer's output: a header of bare names, then quoted
/// fields; every record ends with CRLF.
fn read_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let (header, mut rest) = text.split_once("\r\n").ok_or("no header line")?;
    let mut records = vec![if header.is_empty() {
        vec![]
    } else {
        header.split(',').map(str::to_owned).collect()
    }];
    while !rest.is_empty() {
        let mut record = Vec::new();
        loop {
            if let Some(after) = rest.strip_prefix("\r\n") {
                rest = after;
                break;
            }
            if !record.is_empty() {
                rest = rest.strip_prefix(',').ok_or("missing comma")?;
            }
            rest = rest.strip_prefix('"').ok_or("unquoted field")?;
            let mut field = String::new();
            loop {
                let at = rest.find('"').ok_or("unterminated field")?;
                field.push_str(&rest[..at]);
                rest = &rest[at + 1..];
                match rest.strip_prefix('"') {
                    Some(after) => {
                        field.push('"');
                        rest = after;
                    }
                    None => break,
                }
            }
            record.push(field);
        }
        records.push(record);
    }
    Ok(records)
}

/// Pieces of FetchXML, so random documents often get past the XML parser into the subset's
/// checks and the translation.
const PIECES: &[&str] = &[
    "<fetch",
    "<fetch>",
    "</fetch>",
    "<entity name=\"account\"",
    "<entity name=\"x\"",
    ">",
    "/>",
    "</entity>",
    "<attribute name=\"name\"/>",
    "<attribute",
    " name=\"revenue\"",
    "<all-attributes/>",
    "<order attribute=\"name\" descending=\"true\"/>",
    "<filter",
    " type=\"or\"",
    "</filter>",
    "<condition attribute=\"name\"",
    "<condition attribute=\"revenue\"",
    " operator=\"eq\"",
    " operator=\"in\"",
    " operator=\"like\"",
    " operator=\"null\"",
    " value=\"%a_[b]%\"",
    " value=\"1.5\"",
    " value=\"\"",
    "<value>",
    "</value>",
    "</condition>",
    " top=\"5\"",
    " count=\"0\"",
    " page=\"2\"",
    "<link-entity/>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "&lt;",
    "&#x0;",
    "&#1114112;",
    "\"",
    "'",
    "=",
    " ",
    "\u{feff}",
    "é",
    "😀",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE fetch>",
    "xmlns:a=\"urn:a\"",
    "<a:b/>",
];

proptest! {
    #[test]
    fn no_string_makes_the_parser_panic(xml in any::<String>()) {
        let _ = compile(&xml, &Catalogue::standard());
    }

    #[test]
    fn no_fetchxml_like_string_makes_compile_panic(
        pieces in prop::collection::vec(prop::sample::select(PIECES), 0..48)
    ) {
        let _ = compile(&pieces.concat(), &Catalogue::standard());
    }

    #[test]
    fn csv_reads_back_to_the_values_written(
        values in prop::collection::vec(prop::option::of(".*"), 1..6),
        rows in 1usize..4,
    ) {
        let names = ["a", "b", "c", "d", "e", "f"];
        let table: Vec<Row> = (0..rows)
            .map(|_| {
                values
                    .iter()
                    .zip(names)
                    .map(|(v, n)| (n, v.clone().map_or(Cell::Null, Cell::Text)))
                    .collect()
            })
            .collect();
        let records = read_csv(&to_csv(&table)).unwrap();
        let header: Vec<&str> = names
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| *n)
            .collect();
        prop_assert_eq!(&records[0], &header);
        prop_assert_eq!(records.len(), rows + 1);
        for record in &records[1..] {
            let expected: Vec<String> = values.iter().flatten().cloned().collect();
            prop_assert_eq!(record, &expected);
        }
    }
}

//! Demo data for a fresh database: a few dozen `account` rows so the quick start can query and
//! export something at once (SPEC §1, §11). Names include quotes, commas, an ampersand and
//! non-ASCII text on purpose. Seeded once per database (a setting records it), and only when
//! `--demo-data` is on (the default).

use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::Cell;
use bgops_core::{Timestamp, UserId};
use bgops_store::{Store, StoreError, WriteContext};

/// The setting that records the seeding.
const SEEDED: &str = "demo_accounts_seeded";

struct DemoAccount {
    id: &'static str,
    name: &'static str,
    number: &'static str,
    phone: &'static str,
    city: &'static str,
    country: &'static str,
    revenue: &'static str,
    employees: i64,
}

const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount { id: "2fb21d4a-2d5b-55ba-ace9-8864b0e145c6", name: "Contoso Ltd", number: "DEMO-001", phone: "555-0100", city: "Seattle", country: "United States", revenue: "1200000.00", employees: 120 },
    DemoAccount { id: "e93c43aa-1513-54a4-a2f5-4cb12835f3d6", name: "Fabrikam, Inc.", number: "DEMO-002", phone: "555-0101", city: "Redmond", country: "United States", revenue: "850000.5", employees: 85 },
    DemoAccount { id: "79377d9d-ba24-5109-a8a2-5dbf605f553d", name: "Adventure Works", number: "DEMO-003", phone: "555-0102", city: "Bothell", country: "United States", revenue: "420000.00", employees: 42 },
    DemoAccount { id: "17945f8a-b307-57ea-8743-c4f69a2ba45b", name: "Alpine Ski House", number: "DEMO-004", phone: "555-0103", city: "Innsbruck", country: "Austria", revenue: "310000.00", employees: 31 },
    DemoAccount { id: "c6986cd7-6e45-52e1-ae9c-e9aebe1f0691", name: "Blue Yonder Airlines", number: "DEMO-005", phone: "555-0104", city: "Dallas", country: "United States", revenue: "9800000.00", employees: 980 },
    DemoAccount { id: "6f6d6b7c-84c5-5a65-91e8-284390c23d17", name: "City Power & Light", number: "DEMO-006", phone: "555-0105", city: "Chicago", country: "United States", revenue: "15000000.00", employees: 1500 },
    DemoAccount { id: "81d0b2b5-804e-5ab6-9d08-17864ea4753e", name: "Coho Winery", number: "DEMO-007", phone: "555-0106", city: "Napa", country: "United States", revenue: "275000.00", employees: 27 },
    DemoAccount { id: "39eb1fe8-e47d-5c61-8a6c-e3d31d9d5514", name: "Consolidated Messenger", number: "DEMO-008", phone: "555-0107", city: "New York", country: "United States", revenue: "640000.00", employees: 64 },
    DemoAccount { id: "51be2d5c-e3a4-5da0-a110-89a28f98677f", name: "Datum Corporation", number: "DEMO-009", phone: "555-0108", city: "Toronto", country: "Canada", revenue: "720000.00", employees: 72 },
    DemoAccount { id: "c8644d47-dffa-5836-8dfa-113496b2ad36", name: "Fourth Coffee", number: "DEMO-010", phone: "555-0109", city: "Portland", country: "United States", revenue: "130000.00", employees: 13 },
    DemoAccount { id: "936e095a-e347-5f01-9f87-0e1e85950eb7", name: "Graphic Design Institute", number: "DEMO-011", phone: "555-0110", city: "London", country: "United Kingdom", revenue: "99000.00", employees: 9 },
    DemoAccount { id: "10dff306-3f53-5aff-a4b7-67aff6504766", name: "Humongous Insurance", number: "DEMO-012", phone: "555-0111", city: "Hartford", country: "United States", revenue: "22000000.00", employees: 2200 },
    DemoAccount { id: "76ecb2a4-6f7c-5845-abe5-0af518e8948b", name: "Litware, Inc.", number: "DEMO-013", phone: "555-0112", city: "Austin", country: "United States", revenue: "560000.00", employees: 56 },
    DemoAccount { id: "ea2a917e-0cea-5977-9b28-c3783f8e50a1", name: "Lucerne Publishing", number: "DEMO-014", phone: "555-0113", city: "Luzern", country: "Switzerland", revenue: "340000.00", employees: 34 },
    DemoAccount { id: "06f59649-3fae-55b2-815e-c96e1649cae8", name: "Margie's Travel", number: "DEMO-015", phone: "555-0114", city: "Sydney", country: "Australia", revenue: "410000.00", employees: 41 },
    DemoAccount { id: "2244756e-e44c-5ae2-aaaa-92a68a3c4337", name: "Northwind Traders", number: "DEMO-016", phone: "555-0115", city: "Lyon", country: "France", revenue: "880000.00", employees: 88 },
    DemoAccount { id: "fc2f657c-875e-5d0a-84ec-623dae13b1aa", name: "Proseware, Inc.", number: "DEMO-017", phone: "555-0116", city: "Dublin", country: "Ireland", revenue: "230000.00", employees: 23 },
    DemoAccount { id: "47a6f6fc-0fda-5912-8666-730f93e40fb5", name: "School of Fine Art", number: "DEMO-018", phone: "555-0117", city: "Boston", country: "United States", revenue: "150000.00", employees: 15 },
    DemoAccount { id: "582240ff-9156-5001-ab3c-cb527df9e714", name: "Southridge Video", number: "DEMO-019", phone: "555-0118", city: "Los Angeles", country: "United States", revenue: "610000.00", employees: 61 },
    DemoAccount { id: "772f919c-fa47-5e62-9133-41b780995d6a", name: "Tailspin Toys", number: "DEMO-020", phone: "555-0119", city: "Denver", country: "United States", revenue: "190000.00", employees: 19 },
    DemoAccount { id: "18984633-5295-5faf-94ad-dc977bcbcab9", name: "Trey Research", number: "DEMO-021", phone: "555-0120", city: "Cambridge", country: "United Kingdom", revenue: "1300000.00", employees: 130 },
    DemoAccount { id: "b0beb9a2-9fbb-5cdd-8870-735687fae555", name: "The Phone Company", number: "DEMO-022", phone: "555-0121", city: "Atlanta", country: "United States", revenue: "4500000.00", employees: 450 },
    DemoAccount { id: "9e2b0ba1-2a30-573a-a1ed-ebe0cc388e40", name: "Wide World Importers", number: "DEMO-023", phone: "555-0122", city: "Rotterdam", country: "Netherlands", revenue: "2700000.00", employees: 270 },
    DemoAccount { id: "996daf34-0340-5a92-9c46-b9cbcf2d9a07", name: "Wingtip Toys", number: "DEMO-024", phone: "555-0123", city: "Orlando", country: "United States", revenue: "260000.00", employees: 26 },
    DemoAccount { id: "0757af3d-b437-5091-b034-9dc604dbaf1d", name: "Woodgrove Bank", number: "DEMO-025", phone: "555-0124", city: "Charlotte", country: "United States", revenue: "31000000.00", employees: 3100 },
    DemoAccount { id: "5a1ebb22-31e8-5318-91fa-5fafc28241a0", name: "Relecloud", number: "DEMO-026", phone: "555-0125", city: "San Francisco", country: "United States", revenue: "3900000.00", employees: 390 },
    DemoAccount { id: "1c87e415-c61b-5903-87cc-252fda785a3c", name: "Munson's Pickles and Preserves Farm", number: "DEMO-027", phone: "555-0126", city: "Vancouver", country: "Canada", revenue: "88000.00", employees: 8 },
    DemoAccount { id: "210588bc-a0de-5e92-8efe-409f199fdd8f", name: "Nod Publishers", number: "DEMO-028", phone: "555-0127", city: "Edinburgh", country: "United Kingdom", revenue: "120000.00", employees: 12 },
    DemoAccount { id: "4cbce26f-c1c3-5895-a3dd-326546721b92", name: "Café Zürich GmbH", number: "DEMO-029", phone: "555-0128", city: "Zürich", country: "Switzerland", revenue: "510000.00", employees: 51 },
    DemoAccount { id: "6df77f75-f986-53af-808c-47a87a0717eb", name: "Société Générale des Eaux", number: "DEMO-030", phone: "555-0129", city: "Paris", country: "France", revenue: "7400000.00", employees: 740 },
    DemoAccount { id: "8e96e87d-8ce2-5146-994a-791304359f3c", name: "株式会社サンプル", number: "DEMO-031", phone: "555-0130", city: "東京", country: "Japan", revenue: "6600000.00", employees: 660 },
    DemoAccount { id: "a3959f11-26e1-51fb-a5fe-439dce626dc5", name: "\"Quoted\" Holdings", number: "DEMO-032", phone: "555-0131", city: "Quebec", country: "Canada", revenue: "45000.00", employees: 4 },
    DemoAccount { id: "eaf707e8-53dc-5896-b954-d3457fad0bed", name: "Bellows College", number: "DEMO-033", phone: "555-0132", city: "Cleveland", country: "United States", revenue: "76000.00", employees: 7 },
    DemoAccount { id: "17434536-12cf-5eb1-9b6b-a1a24d8b32c4", name: "VanArsdel, Ltd.", number: "DEMO-034", phone: "555-0133", city: "Melbourne", country: "Australia", revenue: "980000.00", employees: 98 },
    DemoAccount { id: "9efacbaf-338c-5e55-a774-01561b695377", name: "Olympia", number: "DEMO-035", phone: "555-0134", city: "Athens", country: "Greece", revenue: "330000.00", employees: 33 },
    DemoAccount { id: "5b8742c9-f1a1-5405-bebd-207071065288", name: "First Up Consultants", number: "DEMO-036", phone: "555-0135", city: "Oslo", country: "Norway", revenue: "205000.00", employees: 20 },
];

/// Inserts the demo accounts unless this database was seeded before; returns how many.
pub async fn seed(
    store: &Arc<dyn Store>,
    catalogue: &Catalogue,
    admin: UserId,
    now: Timestamp,
) -> Result<usize, StoreError> {
    if store.setting(SEEDED, None, "no".into()).await? == "yes" {
        return Ok(0);
    }
    let Some(table) = catalogue.by_logical_name("account") else {
        return Ok(0);
    };
    let ctx = WriteContext { now, user: admin };
    let mut n = 0;
    for a in ACCOUNTS {
        let Ok(id) = Cell::guid(a.id) else { continue };
        let row = vec![
            ("accountid", id),
            ("name", Cell::Text(a.name.into())),
            ("accountnumber", Cell::Text(a.number.into())),
            ("telephone1", Cell::Text(a.phone.into())),
            ("address1_city", Cell::Text(a.city.into())),
            ("address1_country", Cell::Text(a.country.into())),
            ("revenue", Cell::Decimal(a.revenue.into())),
            ("numberofemployees", Cell::Int(a.employees)),
            ("statecode", Cell::Int(0)),
            ("statuscode", Cell::Int(1)),
        ];
        if let bgops_store::InsertOutcome::Created(_) = store.insert_row(table.clone(), row, ctx).await? {
            n += 1;
        }
    }
    store.setting(SEEDED, Some("yes".into()), "yes".into()).await?;
    Ok(n)
}

//! The tables bgops serves (SPEC §6) and their columns. Each is a real SQL table created by the
//! storage migrations; the names here are the SQL names.

use std::sync::Arc;

use crate::metadata::{
    ChoiceKind, Column, ColumnType, RequiredLevel, Table, TableAccess, Writability,
};

use ColumnType::*;
use Writability::*;

const fn col(logical_name: &'static str, column_type: ColumnType) -> Column {
    Column {
        logical_name,
        column_type,
        writability: ReadWrite,
        required: RequiredLevel::None,
    }
}

/// A business-required column (advertised, not enforced, as in Dataverse).
const fn required(logical_name: &'static str, column_type: ColumnType) -> Column {
    Column {
        logical_name,
        column_type,
        writability: ReadWrite,
        required: RequiredLevel::Application,
    }
}

/// A column no row can be without: a create must set it, an update cannot clear it.
const fn system_required(logical_name: &'static str, column_type: ColumnType) -> Column {
    Column {
        logical_name,
        column_type,
        writability: ReadWrite,
        required: RequiredLevel::System,
    }
}

const fn create_only(logical_name: &'static str, column_type: ColumnType) -> Column {
    Column {
        logical_name,
        column_type,
        writability: CreateOnly,
        required: RequiredLevel::None,
    }
}

const fn read_only(logical_name: &'static str, column_type: ColumnType) -> Column {
    Column {
        logical_name,
        column_type,
        writability: ReadOnly,
        required: RequiredLevel::None,
    }
}

const fn text(max_len: u32) -> ColumnType {
    String { max_len }
}

const fn memo(max_len: u32) -> ColumnType {
    Memo { max_len }
}

const YES_NO: ColumnType = Boolean {
    true_label: "Yes",
    false_label: "No",
};

const ACTIVE_STATE: ColumnType = Choice {
    options: &[(0, "Active"), (1, "Inactive")],
    kind: ChoiceKind::State,
};
const ACTIVE_STATUS: ColumnType = Choice {
    options: &[(1, "Active"), (2, "Inactive")],
    kind: ChoiceKind::Status {
        states: &[(1, 0), (2, 1)],
    },
};
const PARAM_TYPES: ColumnType = Choice {
    options: &[
        (0, "Boolean"),
        (1, "DateTime"),
        (2, "Decimal"),
        (3, "Entity"),
        (4, "EntityCollection"),
        (5, "EntityReference"),
        (6, "Float"),
        (7, "Integer"),
        (8, "Money"),
        (9, "Picklist"),
        (10, "String"),
        (11, "StringArray"),
        (12, "Guid"),
    ],
    kind: ChoiceKind::Picklist,
};

/// The system columns every table ends with.
fn system_columns() -> [Column; 4] {
    [
        read_only("createdon", DateTime),
        read_only("modifiedon", DateTime),
        read_only(
            "createdby",
            Lookup {
                targets: &["systemuser"],
            },
        ),
        read_only("versionnumber", BigInt),
    ]
}

#[allow(clippy::too_many_arguments)]
fn table(
    logical_name: &'static str,
    entity_set: &'static str,
    display_name: &'static str,
    primary_id: &'static str,
    primary_name: &'static str,
    access: TableAccess,
    columns: Vec<Column>,
) -> Table {
    let mut all = vec![read_only(primary_id, PrimaryKey)];
    all.extend(columns);
    all.extend(system_columns());
    Table {
        logical_name,
        entity_set,
        primary_id,
        primary_name,
        display_name,
        columns: all,
        access,
    }
}

fn account() -> Table {
    table(
        "account",
        "accounts",
        "Account",
        "accountid",
        "name",
        TableAccess::ReadWrite,
        vec![
            required("name", text(160)),
            col("accountnumber", text(20)),
            col("telephone1", text(50)),
            col("emailaddress1", text(100)),
            col("websiteurl", text(200)),
            col("address1_line1", text(250)),
            col("address1_city", text(80)),
            col("address1_postalcode", text(20)),
            col("address1_country", text(80)),
            col("description", memo(2000)),
            col("revenue", Money),
            col("numberofemployees", Integer),
            col("creditlimit", Money),
            col("creditonhold", YES_NO),
            col(
                "industrycode",
                Choice {
                    options: &[
                        (1, "Accounting"),
                        (2, "Agriculture and Non-petrol Natural Resource Extraction"),
                        (3, "Broadcasting Printing and Publishing"),
                        (4, "Brokers"),
                        (5, "Building Supply Retail"),
                        (6, "Business Services"),
                        (7, "Consulting"),
                        (8, "Consumer Services"),
                        (9, "Design, Direction and Creative Management"),
                        (10, "Distributors, Dispatchers and Processors"),
                        (11, "Doctor's Offices and Clinics"),
                        (12, "Durable Manufacturing"),
                        (13, "Eating and Drinking Places"),
                        (14, "Entertainment Retail"),
                        (15, "Equipment Rental and Leasing"),
                        (16, "Financial"),
                        (17, "Food and Tobacco Processing"),
                        (18, "Inbound Capital Intensive Processing"),
                        (19, "Inbound Repair and Services"),
                        (20, "Insurance"),
                        (21, "Legal Services"),
                        (22, "Non-Durable Merchandise Retail"),
                        (23, "Outbound Consumer Service"),
                        (24, "Petrochemical Extraction and Distribution"),
                        (25, "Service Retail"),
                        (26, "SIG Affiliations"),
                        (27, "Social Services"),
                        (28, "Special Outbound Trade Contractors"),
                        (29, "Specialty Realty"),
                        (30, "Transportation"),
                        (31, "Utility Creation and Distribution"),
                        (32, "Vehicle Retail"),
                        (33, "Wholesale"),
                    ],
                    kind: ChoiceKind::Picklist,
                },
            ),
            col(
                "primarycontactid",
                Lookup {
                    targets: &["contact"],
                },
            ),
            col("statecode", ACTIVE_STATE),
            col("statuscode", ACTIVE_STATUS),
        ],
    )
}

fn contact() -> Table {
    table(
        "contact",
        "contacts",
        "Contact",
        "contactid",
        "fullname",
        TableAccess::ReadWrite,
        vec![
            read_only("fullname", text(160)),
            col("firstname", text(50)),
            required("lastname", text(50)),
            col("emailaddress1", text(100)),
            col("telephone1", text(50)),
            col("mobilephone", text(50)),
            col("jobtitle", text(100)),
            col("address1_city", text(80)),
            col("birthdate", DateTime),
            col("description", memo(2000)),
            col(
                "donotemail",
                Boolean {
                    true_label: "Do Not Allow",
                    false_label: "Allow",
                },
            ),
            col(
                "parentcustomerid",
                Lookup {
                    targets: &["account"],
                },
            ),
            col("statecode", ACTIVE_STATE),
            col("statuscode", ACTIVE_STATUS),
        ],
    )
}

fn annotation() -> Table {
    table(
        "annotation",
        "annotations",
        "Note",
        "annotationid",
        "subject",
        TableAccess::ReadWrite,
        vec![
            col("subject", text(500)),
            col("notetext", memo(100_000)),
            col("filename", text(255)),
            col("mimetype", text(256)),
            col("documentbody", memo(1_073_741_823)),
            read_only("filesize", Integer),
            read_only("isdocument", YES_NO),
            col(
                "objectid",
                Lookup {
                    targets: &["account", "contact"],
                },
            ),
            col("objecttypecode", text(64)),
        ],
    )
}

fn backgroundoperation() -> Table {
    let ro = read_only;
    table(
        "backgroundoperation",
        "backgroundoperations",
        "Background Operation",
        "backgroundoperationid",
        "name",
        TableAccess::CancelOnly,
        vec![
            ro("name", text(512)),
            ro("displayname", text(512)),
            ro(
                "backgroundoperationstatecode",
                Choice {
                    options: &[(0, "Ready"), (2, "Locked"), (3, "Completed")],
                    kind: ChoiceKind::State,
                },
            ),
            ro(
                "backgroundoperationstatuscode",
                Choice {
                    options: &[
                        (0, "Waiting For Resources"),
                        (20, "In Progress"),
                        (22, "Canceling"),
                        (30, "Succeeded"),
                        (31, "Failed"),
                        (32, "Canceled"),
                    ],
                    kind: ChoiceKind::Status {
                        states: &[(0, 0), (20, 2), (22, 2), (30, 3), (31, 3), (32, 3)],
                    },
                },
            ),
            ro("inputparameters", memo(1_048_576)),
            ro("outputparameters", memo(1_048_576)),
            ro("starttime", DateTime),
            ro("endtime", DateTime),
            ro("retrycount", Integer),
            ro("errorcode", Integer),
            ro("errormessage", memo(1_048_576)),
            ro("runas", text(40)),
            ro("priority", Integer),
            ro("ttlinseconds", Integer),
        ],
    )
}

fn customapi() -> Table {
    table(
        "customapi",
        "customapis",
        "Custom API",
        "customapiid",
        "name",
        TableAccess::ReadWrite,
        vec![
            create_only("uniquename", text(128)),
            required("name", text(100)),
            col("displayname", text(100)),
            col("description", text(300)),
            create_only(
                "bindingtype",
                Choice {
                    options: &[(0, "Global"), (1, "Entity"), (2, "Entity Collection")],
                    kind: ChoiceKind::Picklist,
                },
            ),
            create_only("boundentitylogicalname", text(100)),
            create_only("isfunction", YES_NO),
            col("isprivate", YES_NO),
            create_only(
                "allowedcustomprocessingsteptype",
                Choice {
                    options: &[(0, "None"), (1, "Async Only"), (2, "Sync and Async")],
                    kind: ChoiceKind::Picklist,
                },
            ),
            col("executeprivilegename", text(100)),
            col(
                "plugintypeid",
                Lookup {
                    targets: &["plugintype"],
                },
            ),
            create_only("workflowsdkstepenabled", YES_NO),
            read_only("bgops_source", text(10)),
        ],
    )
}

fn customapirequestparameter() -> Table {
    table(
        "customapirequestparameter",
        "customapirequestparameters",
        "Custom API Request Parameter",
        "customapirequestparameterid",
        "name",
        TableAccess::ReadWrite,
        vec![
            create_only("uniquename", text(128)),
            required("name", text(100)),
            col("displayname", text(100)),
            col("description", text(300)),
            create_only("type", PARAM_TYPES),
            create_only("logicalentityname", text(100)),
            create_only("isoptional", YES_NO),
            create_only(
                "customapiid",
                Lookup {
                    targets: &["customapi"],
                },
            ),
            read_only("bgops_source", text(10)),
        ],
    )
}

fn customapiresponseproperty() -> Table {
    table(
        "customapiresponseproperty",
        "customapiresponseproperties",
        "Custom API Response Property",
        "customapiresponsepropertyid",
        "name",
        TableAccess::ReadWrite,
        vec![
            create_only("uniquename", text(128)),
            required("name", text(100)),
            col("displayname", text(100)),
            col("description", text(300)),
            create_only("type", PARAM_TYPES),
            create_only("logicalentityname", text(100)),
            create_only(
                "customapiid",
                Lookup {
                    targets: &["customapi"],
                },
            ),
            read_only("bgops_source", text(10)),
        ],
    )
}

fn plugintype() -> Table {
    table(
        "plugintype",
        "plugintypes",
        "Plug-in Type",
        "plugintypeid",
        "name",
        TableAccess::ReadWrite,
        vec![
            required("name", text(256)),
            create_only("typename", text(256)),
            col("friendlyname", text(256)),
            col("description", memo(2000)),
            col("bgops_endpointurl", text(2000)),
            read_only("bgops_source", text(10)),
        ],
    )
}

fn systemuser() -> Table {
    table(
        "systemuser",
        "systemusers",
        "User",
        "systemuserid",
        "fullname",
        TableAccess::ReadWrite,
        vec![
            system_required("fullname", text(200)),
            col("domainname", text(1024)),
            col("internalemailaddress", text(100)),
            col("azureactivedirectoryobjectid", Guid),
            col(
                "isdisabled",
                Boolean {
                    true_label: "Disabled",
                    false_label: "Enabled",
                },
            ),
        ],
    )
}

fn role() -> Table {
    table(
        "role",
        "roles",
        "Security Role",
        "roleid",
        "name",
        TableAccess::ReadOnly,
        vec![required("name", text(100))],
    )
}

fn privilege() -> Table {
    table(
        "privilege",
        "privileges",
        "Privilege",
        "privilegeid",
        "name",
        TableAccess::ReadOnly,
        vec![
            required("name", text(100)),
            col("canbebasic", YES_NO),
            col("canbeglobal", YES_NO),
        ],
    )
}

/// The privileges of a role and the depth each is held at (`privilegedepthmask`: 1 Basic,
/// 8 Global).
fn roleprivileges() -> Table {
    table(
        "roleprivileges",
        "roleprivilegescollection",
        "Role Privileges",
        "roleprivilegeid",
        "roleprivilegeid",
        TableAccess::ReadOnly,
        vec![
            required("roleid", Lookup { targets: &["role"] }),
            required(
                "privilegeid",
                Lookup {
                    targets: &["privilege"],
                },
            ),
            required("privilegedepthmask", Integer),
        ],
    )
}

/// Which users hold which roles; changed with `$ref` on `systemuserroles_association`.
fn systemuserroles() -> Table {
    table(
        "systemuserroles",
        "systemuserrolescollection",
        "System User Roles",
        "systemuserroleid",
        "systemuserroleid",
        TableAccess::ReadOnly,
        vec![
            required(
                "systemuserid",
                Lookup {
                    targets: &["systemuser"],
                },
            ),
            required("roleid", Lookup { targets: &["role"] }),
        ],
    )
}

fn sdkmessage() -> Table {
    table(
        "sdkmessage",
        "sdkmessages",
        "Sdk Message",
        "sdkmessageid",
        "name",
        TableAccess::ReadOnly,
        vec![
            required("name", text(256)),
            col("categoryname", text(25)),
            col("isprivate", YES_NO),
        ],
    )
}

fn serviceendpoint() -> Table {
    table(
        "serviceendpoint",
        "serviceendpoints",
        "Service Endpoint",
        "serviceendpointid",
        "name",
        TableAccess::ReadWrite,
        vec![
            required("name", text(256)),
            col("description", memo(2000)),
            col("url", text(2000)),
            col(
                "contract",
                Choice {
                    options: &[
                        (1, "OneWay"),
                        (2, "Queue"),
                        (3, "Rest"),
                        (4, "TwoWay"),
                        (5, "Topic"),
                        (6, "Queue Persistent"),
                        (7, "Event Hub"),
                        (8, "Webhook"),
                        (9, "Event Grid"),
                    ],
                    kind: ChoiceKind::Picklist,
                },
            ),
            col(
                "authtype",
                Choice {
                    options: &[
                        (1, "ACS"),
                        (2, "SAS Key"),
                        (3, "SAS Token"),
                        (4, "Webhook Key"),
                        (5, "Http Header"),
                        (6, "Http Query String"),
                    ],
                    kind: ChoiceKind::Picklist,
                },
            ),
            col(
                "messageformat",
                Choice {
                    options: &[(1, "BinaryXML"), (2, "Json"), (3, "TextXML")],
                    kind: ChoiceKind::Picklist,
                },
            ),
        ],
    )
}

/// The `serviceendpoint` table with its write-only `authvalue` column (the webhook's key or
/// its header and query string pairs): what the Web API writes and the engine reads. The table
/// the Web API serves (in [`Catalogue`]) leaves it out, so no read, `$select`, `$filter` or
/// `$metadata` reveals it — in Dataverse too `authvalue` is not valid for read.
pub fn serviceendpoint_with_authvalue() -> Table {
    let mut t = serviceendpoint();
    let at = t
        .columns
        .iter()
        .position(|c| c.logical_name == "createdon")
        .unwrap_or(t.columns.len());
    t.columns.insert(at, col("authvalue", text(4000)));
    t
}

fn sdkmessageprocessingstep() -> Table {
    table(
        "sdkmessageprocessingstep",
        "sdkmessageprocessingsteps",
        "Sdk Message Processing Step",
        "sdkmessageprocessingstepid",
        "name",
        TableAccess::ReadWrite,
        vec![
            required("name", text(256)),
            col("description", text(256)),
            col(
                "stage",
                Choice {
                    options: &[
                        (10, "Pre-validation"),
                        (20, "Pre-operation"),
                        (30, "Main Operation"),
                        (40, "Post-operation"),
                    ],
                    kind: ChoiceKind::Picklist,
                },
            ),
            col(
                "mode",
                Choice {
                    options: &[(0, "Synchronous"), (1, "Asynchronous")],
                    kind: ChoiceKind::Picklist,
                },
            ),
            col("rank", Integer),
            col("asyncautodelete", YES_NO),
            col(
                "sdkmessageid",
                Lookup {
                    targets: &["sdkmessage"],
                },
            ),
            col(
                "eventhandler",
                Lookup {
                    targets: &["serviceendpoint", "plugintype"],
                },
            ),
            col(
                "plugintypeid",
                Lookup {
                    targets: &["plugintype"],
                },
            ),
            col(
                "supporteddeployment",
                Choice {
                    options: &[
                        (0, "Server Only"),
                        (1, "Microsoft Dynamics 365 Client for Outlook Only"),
                        (2, "Both"),
                    ],
                    kind: ChoiceKind::Picklist,
                },
            ),
            col(
                "statecode",
                Choice {
                    options: &[(0, "Enabled"), (1, "Disabled")],
                    kind: ChoiceKind::State,
                },
            ),
            col(
                "statuscode",
                Choice {
                    options: &[(1, "Enabled"), (2, "Disabled")],
                    kind: ChoiceKind::Status {
                        states: &[(1, 0), (2, 1)],
                    },
                },
            ),
        ],
    )
}

fn asyncoperation() -> Table {
    let ro = read_only;
    table(
        "asyncoperation",
        "asyncoperations",
        "System Job",
        "asyncoperationid",
        "name",
        TableAccess::ReadOnly,
        vec![
            ro("name", text(256)),
            ro("operationtype", Integer),
            ro(
                "statecode",
                Choice {
                    options: &[
                        (0, "Ready"),
                        (1, "Suspended"),
                        (2, "Locked"),
                        (3, "Completed"),
                    ],
                    kind: ChoiceKind::State,
                },
            ),
            ro(
                "statuscode",
                Choice {
                    options: &[
                        (0, "Waiting For Resources"),
                        (10, "Waiting"),
                        (20, "In Progress"),
                        (21, "Pausing"),
                        (22, "Canceling"),
                        (30, "Succeeded"),
                        (31, "Failed"),
                        (32, "Canceled"),
                    ],
                    kind: ChoiceKind::Status {
                        states: &[
                            (0, 0),
                            (10, 1),
                            (20, 2),
                            (21, 2),
                            (22, 2),
                            (30, 3),
                            (31, 3),
                            (32, 3),
                        ],
                    },
                },
            ),
            ro("messagename", text(256)),
            ro("data", memo(1_073_741_823)),
            ro("message", memo(1_073_741_823)),
            ro("friendlymessage", memo(1_073_741_823)),
            ro("errorcode", Integer),
            ro("retrycount", Integer),
            ro("startedon", DateTime),
            ro("completedon", DateTime),
            ro(
                "regardingobjectid",
                Lookup {
                    targets: &["backgroundoperation"],
                },
            ),
            ro(
                "owningextensionid",
                Lookup {
                    targets: &["sdkmessageprocessingstep"],
                },
            ),
        ],
    )
}

/// Every table the Web API serves.
#[derive(Clone, Debug)]
pub struct Catalogue {
    /// The tables, in the order the service document lists them.
    tables: Vec<Arc<Table>>,
}

impl Catalogue {
    /// The standard catalogue of SPEC §6.
    pub fn standard() -> Self {
        let tables = vec![
            account(),
            contact(),
            annotation(),
            backgroundoperation(),
            customapi(),
            customapirequestparameter(),
            customapiresponseproperty(),
            plugintype(),
            systemuser(),
            role(),
            privilege(),
            roleprivileges(),
            systemuserroles(),
            sdkmessage(),
            serviceendpoint(),
            sdkmessageprocessingstep(),
            asyncoperation(),
        ];
        Self {
            tables: tables.into_iter().map(Arc::new).collect(),
        }
    }

    /// Every table.
    pub fn tables(&self) -> &[Arc<Table>] {
        &self.tables
    }

    /// The table with this entity set name (`accounts`).
    pub fn by_entity_set(&self, set: &str) -> Option<Arc<Table>> {
        self.tables.iter().find(|t| t.entity_set == set).cloned()
    }

    /// The table with this logical name (`account`).
    pub fn by_logical_name(&self, name: &str) -> Option<Arc<Table>> {
        self.tables.iter().find(|t| t.logical_name == name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_its_key_first_and_its_primary_name() {
        let c = Catalogue::standard();
        assert_eq!(c.tables().len(), 17);
        for t in c.tables() {
            assert_eq!(
                t.columns[0].logical_name, t.primary_id,
                "{}",
                t.logical_name
            );
            assert!(t.column(t.primary_name).is_some(), "{}", t.logical_name);
            let mut names: Vec<_> = t.columns.iter().map(|c| c.logical_name).collect();
            names.sort();
            names.dedup();
            assert_eq!(
                names.len(),
                t.columns.len(),
                "duplicate column in {}",
                t.logical_name
            );
        }
        assert_eq!(c.by_entity_set("accounts").unwrap().logical_name, "account");
        let contact = c.by_logical_name("contact").unwrap();
        assert_eq!(
            contact
                .column_by_property("_parentcustomerid_value")
                .unwrap()
                .logical_name,
            "parentcustomerid"
        );
        assert!(contact.column_by_property("parentcustomerid").is_none());
    }
}

//! The syntax tree of a FetchXML query, as written and before it is checked against a table:
//! names are plain strings and values are the text of the document.

/// A `<fetch>` document: one entity and the query's paging attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// `top`: the most rows the query returns at all (never together with `count` or `page`).
    pub top: Option<u32>,
    /// `count`: the page size.
    pub count: Option<u32>,
    /// `page`: the 1-based page to start from.
    pub page: Option<u32>,
    /// `paging-cookie`: kept so a caller can see it was sent; paging is decided by `page`.
    pub paging_cookie: Option<String>,
    /// `distinct`: has no effect on the result, because every row carries its primary id.
    pub distinct: bool,
    /// The one `<entity>`.
    pub entity: Entity,
}

/// The `<entity>` queried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    /// `name`: the table's logical name.
    pub name: String,
    /// Which columns the rows carry.
    pub columns: Columns,
    /// `<order>` elements, in document order.
    pub orders: Vec<Order>,
    /// `<filter>` elements directly under the entity, in document order (they all must hold).
    pub filters: Vec<FilterNode>,
}

/// The columns an `<entity>` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Columns {
    /// `<attribute name=…>` elements, in document order (possibly none).
    Listed(Vec<String>),
    /// `<all-attributes/>` (which wins over any `<attribute>` beside it, as in Dataverse).
    All,
}

/// An `<order attribute=… descending=…>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// The column's logical name.
    pub attribute: String,
    /// `descending="true"` (default ascending).
    pub descending: bool,
}

/// How a `<filter>` combines its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterType {
    /// `type="and"` (the default): every child holds.
    And,
    /// `type="or"`: at least one child holds.
    Or,
}

/// A `<filter>`: conditions and nested filters combined by its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterNode {
    /// `type`.
    pub filter_type: FilterType,
    /// `<condition>` and `<filter>` children, in document order.
    pub children: Vec<FilterItem>,
}

/// A child of a `<filter>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterItem {
    /// A `<condition>`.
    Condition(Condition),
    /// A nested `<filter>`.
    Filter(FilterNode),
}

/// A `<condition attribute=… operator=… value=…>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The column's logical name.
    pub attribute: String,
    /// The operator.
    pub operator: Operator,
    /// The values as written: none for `null`/`not-null`, one or more for `in`/`not-in`
    /// (child `<value>` elements), exactly one otherwise (the `value` attribute or one
    /// `<value>` child).
    pub values: Vec<String>,
}

/// A condition operator of the supported subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
    /// `like` (SQL pattern with `%`).
    Like,
    /// `not-like`
    NotLike,
    /// `begins-with`
    BeginsWith,
    /// `ends-with`
    EndsWith,
    /// `null`
    Null,
    /// `not-null`
    NotNull,
    /// `in` (child `<value>` elements).
    In,
    /// `not-in` (child `<value>` elements).
    NotIn,
}

impl Operator {
    /// Every supported operator, for messages that list them.
    pub const ALL: [Operator; 14] = [
        Self::Eq,
        Self::Ne,
        Self::Gt,
        Self::Ge,
        Self::Lt,
        Self::Le,
        Self::Like,
        Self::NotLike,
        Self::BeginsWith,
        Self::EndsWith,
        Self::Null,
        Self::NotNull,
        Self::In,
        Self::NotIn,
    ];

    /// The operator as FetchXML spells it.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
            Self::Like => "like",
            Self::NotLike => "not-like",
            Self::BeginsWith => "begins-with",
            Self::EndsWith => "ends-with",
            Self::Null => "null",
            Self::NotNull => "not-null",
            Self::In => "in",
            Self::NotIn => "not-in",
        }
    }

    /// The operator spelled `keyword` (case-sensitive, as FetchXML is).
    pub fn from_keyword(keyword: &str) -> Option<Operator> {
        Self::ALL.into_iter().find(|op| op.keyword() == keyword)
    }
}

//! Everything that can be wrong with a FetchXML query, each worded so the caller can fix the
//! query: the message names the element, attribute, operator or column at fault.

/// The most characters of a caller's text (a name or a value) repeated in a message.
const SHOWN_CHARS: usize = 64;

/// A FetchXML query that cannot be run: not well-formed XML, outside the supported subset
/// (SPEC §11), or not matching the table's metadata.
///
/// The `Display` text is the message for the caller (the plug-in's error message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchXmlError {
    /// The document is over the size limit, so it is not parsed at all.
    #[error("The FetchXML is {len} bytes long; at most {limit} bytes are accepted.")]
    TooLarge {
        /// The document's length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The document is not well-formed XML (or uses a DTD); the text holds the XML parser's
    /// message with its line and column.
    #[error("The FetchXML is not well-formed XML: {0}.")]
    Malformed(String),
    /// The root element is not `fetch`.
    #[error("The root element of a FetchXML query must be 'fetch', not '{}'.", clip(.0))]
    WrongRoot(String),
    /// An element outside the supported subset, such as `link-entity`.
    #[error("FetchXML element '{}' is not supported.", clip(.0))]
    UnsupportedElement(String),
    /// A supported element in a place where it cannot be, such as `condition` under `entity`.
    #[error("FetchXML element '{element}' is not allowed inside '{parent}'.")]
    MisplacedElement {
        /// The misplaced element.
        element: &'static str,
        /// Its parent.
        parent: &'static str,
    },
    /// An attribute the element does not support, such as `alias` on `attribute`.
    #[error(
        "The attribute '{}' of FetchXML element '{element}' is not supported.",
        clip(attribute)
    )]
    UnsupportedAttribute {
        /// The element.
        element: &'static str,
        /// The attribute as written.
        attribute: String,
    },
    /// A required attribute that is absent.
    #[error("FetchXML element '{element}' needs the attribute '{attribute}'.")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute it needs.
        attribute: &'static str,
    },
    /// An attribute whose value is not one the element accepts.
    #[error(
        "The attribute '{attribute}' of FetchXML element '{element}' has the value '{}'; {expected}.",
        clip(value)
    )]
    InvalidAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
        /// The value as written.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// Text where only elements may be.
    #[error("FetchXML element '{0}' cannot contain text.")]
    UnexpectedText(&'static str),
    /// No `entity`, or more than one.
    #[error("A FetchXML query needs exactly one 'entity' element inside 'fetch'; found {0}.")]
    EntityCount(usize),
    /// `top` together with `count` or `page`, which Dataverse refuses too.
    #[error(
        "The attribute 'top' of FetchXML element 'fetch' cannot be combined with the paging attribute '{0}'."
    )]
    TopWithPaging(&'static str),
    /// `filter` elements nested deeper than the limit.
    #[error("FetchXML 'filter' elements are nested more than {0} levels deep.")]
    TooDeep(usize),
    /// An operator outside the supported subset.
    #[error(
        "The condition operator '{}' is not supported; the supported operators are eq, ne, gt, ge, lt, le, like, not-like, begins-with, ends-with, null, not-null, in and not-in.",
        clip(.0)
    )]
    UnsupportedOperator(String),
    /// A condition with the wrong number or form of values for its operator.
    #[error(
        "The condition on '{}' with operator '{operator}' {problem}.",
        clip(attribute)
    )]
    ConditionValues {
        /// The condition's column.
        attribute: String,
        /// The operator keyword.
        operator: &'static str,
        /// What is wrong, as the end of the sentence.
        problem: &'static str,
    },
    /// An `entity` name that is not a table of the catalogue (Dataverse's wording).
    #[error(
        "The entity with a name = '{}' with namemapping = 'Logical' was not found in the MetadataCache.",
        clip(.0)
    )]
    UnknownEntity(String),
    /// A column name the table does not have (Dataverse's wording).
    #[error(
        "'{entity}' entity doesn't contain attribute with Name = '{}' and NameMapping = 'Logical'.",
        clip(attribute)
    )]
    UnknownAttribute {
        /// The table's logical name.
        entity: &'static str,
        /// The column name as written.
        attribute: String,
    },
    /// A condition value that is not a value of the column's type.
    #[error(
        "The value '{}' of the condition on '{attribute}' is not a valid {expected}.",
        clip(value)
    )]
    InvalidValue {
        /// The column.
        attribute: &'static str,
        /// The value as written.
        value: String,
        /// The type expected, in words (with its range where it has one).
        expected: &'static str,
    },
    /// A text operator on a column that is not text.
    #[error(
        "The condition operator '{operator}' applies to text columns only; the column '{attribute}' is of type {attribute_type}."
    )]
    NotText {
        /// The operator keyword.
        operator: &'static str,
        /// The column.
        attribute: &'static str,
        /// The column's Dataverse attribute type.
        attribute_type: &'static str,
    },
    /// A `like` pattern that the storage layer cannot run.
    #[error(
        "The like pattern '{}' of the condition on '{attribute}' is not supported: {problem}.",
        clip(pattern)
    )]
    LikePattern {
        /// The column.
        attribute: &'static str,
        /// The pattern as written.
        pattern: String,
        /// Why.
        problem: &'static str,
    },
}

/// At most [`SHOWN_CHARS`] characters of a caller's text, so a huge value cannot make a huge
/// message.
fn clip(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        text.to_owned()
    } else {
        let mut shown: String = text.chars().take(SHOWN_CHARS).collect();
        shown.push('…');
        shown
    }
}

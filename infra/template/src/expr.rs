//! [`Expr`]: a property value, in which any node may be an intrinsic function.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_norway::Value;

/// A property value as CloudFormation reads it: YAML data in which any node may be an
/// intrinsic function, written as a tag (`!GetAtt Queue.Arn`) or as a one-key mapping
/// (`{"Fn::GetAtt": [Queue, Arn]}`). Both forms read into the same variant.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "Value")]
pub enum Expr {
    Null,
    Bool(bool),
    Number(serde_norway::Number),
    String(String),
    List(Vec<Expr>),
    Map(BTreeMap<String, Expr>),
    /// `!Ref X`
    Ref(String),
    /// `!GetAtt X.Attribute` or `!GetAtt [X, Attribute]`
    GetAtt {
        resource: String,
        attribute: String,
    },
    /// `!Sub "...${X}..."`, with the variable map of the list form.
    Sub {
        template: String,
        variables: BTreeMap<String, Expr>,
    },
    /// `!If [Condition, then, otherwise]`
    If {
        condition: String,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `!Join [delimiter, values]`
    Join {
        delimiter: String,
        values: Box<Expr>,
    },
    /// Any other intrinsic (`!Split`, `!Select`, `!Equals`, `{Condition: X}`...), or one of
    /// the above with arguments of the wrong shape: its name without `!` or `Fn::`.
    Call {
        function: String,
        argument: Box<Expr>,
    },
}

impl From<Value> for Expr {
    fn from(value: Value) -> Expr {
        match value {
            Value::Null => Expr::Null,
            Value::Bool(b) => Expr::Bool(b),
            Value::Number(n) => Expr::Number(n),
            Value::String(s) => Expr::String(s),
            Value::Sequence(items) => Expr::List(items.into_iter().map(Expr::from).collect()),
            Value::Tagged(tagged) => {
                let name = tagged.tag.to_string();
                Expr::call(name.trim_start_matches('!'), tagged.value.into())
            }
            Value::Mapping(map) => {
                let mut entries: BTreeMap<String, Expr> = map
                    .into_iter()
                    .filter_map(|(k, v)| Some((Expr::from(k).as_text()?, v.into())))
                    .collect();
                let intrinsic = match entries.keys().next().map(String::as_str) {
                    Some(key) if entries.len() == 1 => intrinsic_name(key).map(str::to_owned),
                    _ => None,
                };
                match intrinsic {
                    Some(name) => {
                        let (_, argument) = entries.pop_first().expect("one entry");
                        Expr::call(&name, argument)
                    }
                    None => Expr::Map(entries),
                }
            }
        }
    }
}

/// `Ref`, `Condition` and `Fn::X` are the keys of the long form; its function name (`GetAtt`).
fn intrinsic_name(key: &str) -> Option<&str> {
    match key {
        "Ref" | "Condition" => Some(key),
        _ => key.strip_prefix("Fn::"),
    }
}

impl Expr {
    /// The intrinsic `function` (short name: `Ref`, `GetAtt`...) applied to `argument`.
    fn call(function: &str, argument: Expr) -> Expr {
        Expr::known(function, &argument).unwrap_or_else(|| Expr::Call {
            function: function.to_owned(),
            argument: Box::new(argument),
        })
    }

    /// The intrinsics with a variant of their own, when their arguments have its shape.
    fn known(function: &str, argument: &Expr) -> Option<Expr> {
        let text = |e: &Expr| e.as_str().map(str::to_owned);
        let boxed = |e: &Expr| Box::new(e.clone());
        Some(match (function, argument) {
            ("Ref", Expr::String(target)) => Expr::Ref(target.clone()),
            ("GetAtt", Expr::String(path)) => {
                let (resource, attribute) = path.split_once('.')?;
                Expr::get_att(resource, attribute)
            }
            ("GetAtt", Expr::List(parts)) => match parts.as_slice() {
                [resource, attribute] => Expr::get_att(resource.as_str()?, attribute.as_str()?),
                _ => return None,
            },
            ("Sub", Expr::String(template)) => Expr::Sub {
                template: template.clone(),
                variables: BTreeMap::new(),
            },
            ("Sub", Expr::List(parts)) => match parts.as_slice() {
                [template] => Expr::Sub {
                    template: text(template)?,
                    variables: BTreeMap::new(),
                },
                [template, Expr::Map(variables)] => Expr::Sub {
                    template: text(template)?,
                    variables: variables.clone(),
                },
                _ => return None,
            },
            ("If", Expr::List(parts)) => match parts.as_slice() {
                [condition, then, otherwise] => Expr::If {
                    condition: text(condition)?,
                    then: boxed(then),
                    otherwise: boxed(otherwise),
                },
                _ => return None,
            },
            ("Join", Expr::List(parts)) => match parts.as_slice() {
                [delimiter, values] => Expr::Join {
                    delimiter: text(delimiter)?,
                    values: boxed(values),
                },
                _ => return None,
            },
            _ => return None,
        })
    }

    fn get_att(resource: &str, attribute: &str) -> Expr {
        Expr::GetAtt {
            resource: resource.to_owned(),
            attribute: attribute.to_owned(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Expr::String(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text: CloudFormation reads `180` and `"180"` alike.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Expr::String(s) => Some(s.clone()),
            Expr::Number(n) => Some(n.to_string()),
            Expr::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_text()?.trim().parse().ok()
    }

    /// `true` or `"true"` (any case), `false` or `"false"`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Expr::Bool(b) => Some(*b),
            Expr::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Expr::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Expr]> {
        match self {
            Expr::List(items) => Some(items),
            _ => None,
        }
    }

    /// A key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Expr> {
        match self {
            Expr::Map(entries) => entries.get(key),
            _ => None,
        }
    }

    /// The resource an `!Ref X`, `!GetAtt X.Attr` or a `!Sub` that is only `${X}` or
    /// `${X.Attr}` points at (or the parameter, or `AWS::Region`...).
    pub fn referenced(&self) -> Option<&str> {
        match self {
            Expr::Ref(target) => Some(target),
            Expr::GetAtt { resource, .. } => Some(resource),
            Expr::Sub { template, .. } => {
                let name = template.strip_prefix("${")?.strip_suffix('}')?;
                if name.contains(['$', '{', '}']) {
                    return None;
                }
                Some(name.split_once('.').map_or(name, |(resource, _)| resource))
            }
            _ => None,
        }
    }

    /// Whether this is attribute `attribute` of `resource`: `!GetAtt resource.attribute` or a
    /// `!Sub` that is exactly `${resource.attribute}`.
    pub fn denotes(&self, resource: &str, attribute: &str) -> bool {
        match self {
            Expr::GetAtt {
                resource: r,
                attribute: a,
            } => r == resource && a == attribute,
            Expr::Sub { template, .. } => *template == format!("${{{resource}.{attribute}}}"),
            _ => false,
        }
    }

    /// The values this may take: both branches of an `!If`, recursively, without
    /// `AWS::NoValue`; otherwise itself.
    pub fn alternatives(&self) -> Vec<&Expr> {
        match self {
            Expr::If {
                then, otherwise, ..
            } => [then, otherwise]
                .into_iter()
                .filter(|b| !matches!(&***b, Expr::Ref(r) if r == "AWS::NoValue"))
                .flat_map(|b| b.alternatives())
                .collect(),
            other => vec![other],
        }
    }

    /// The literal strings this can evaluate to or be built from: strings, the items of lists,
    /// both branches of `!If`, the pieces of `!Join` and the template of `!Sub`. References
    /// contribute nothing: their values are not in the file.
    pub fn literals(&self) -> Vec<&str> {
        match self {
            Expr::String(s) | Expr::Sub { template: s, .. } => vec![s],
            Expr::Join { values, .. } => values.literals(),
            Expr::List(items) => items.iter().flat_map(Expr::literals).collect(),
            Expr::If { .. } => self
                .alternatives()
                .into_iter()
                .flat_map(Expr::literals)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// SAM's merge of a `Globals` value (`self`) with a function's own: mappings key by key,
    /// lists one after the other (global first), anything else the function's own.
    pub fn merge(&self, own: &Expr) -> Expr {
        match (self, own) {
            (Expr::Map(global), Expr::Map(own)) => {
                let mut merged = global.clone();
                for (key, value) in own {
                    let value = match global.get(key) {
                        Some(global) => global.merge(value),
                        None => value.clone(),
                    };
                    merged.insert(key.clone(), value);
                }
                Expr::Map(merged)
            }
            (Expr::List(global), Expr::List(own)) => {
                Expr::List(global.iter().chain(own).cloned().collect())
            }
            _ => own.clone(),
        }
    }
}

/// `!Sub`'s substitution: each `${Name}` and `${Resource.Attribute}` in `template` replaced by
/// `value` of what it stands for (the expression of `variables` it names, else `!Ref Name` or
/// `!GetAtt Resource.Attribute`), and `${!Literal}` by `${Literal}`. An unclosed `${` is text.
pub fn substitute<E>(
    template: &str,
    variables: &BTreeMap<String, Expr>,
    mut value: impl FnMut(&Expr) -> Result<String, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let (Some(end), false) = (after.find('}'), after.starts_with('!')) else {
            out.push_str("${");
            rest = after.strip_prefix('!').unwrap_or(after);
            continue;
        };
        let name = &after[..end];
        let named = match name.split_once('.') {
            Some((resource, attribute)) if !name.starts_with("AWS::") => {
                Expr::get_att(resource, attribute)
            }
            _ => Expr::Ref(name.to_owned()),
        };
        out.push_str(&value(variables.get(name).unwrap_or(&named))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

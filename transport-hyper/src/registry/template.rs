//! RFC 6570 level-1 URI templates, as resource templates use them.

use std::collections::BTreeMap;

/// Match `uri` against a level-1 URI template.
pub(super) fn match_template(template: &str, uri: &str) -> Option<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    let mut rest = uri;
    let mut t = template;
    loop {
        match t.find('{') {
            None => return (rest == t).then_some(vars),
            Some(open) => {
                let lit = &t[..open];
                rest = rest.strip_prefix(lit)?;
                let close = t[open..].find('}')? + open;
                let name = &t[open + 1..close];
                t = &t[close + 1..];
                // The variable runs to the next literal (or '/', or the end).
                let next_lit = &t[..t.find('{').unwrap_or(t.len())];
                let end = if next_lit.is_empty() {
                    rest.find('/').unwrap_or(rest.len())
                } else {
                    rest.find(next_lit)?
                };
                let value = &rest[..end];
                if value.is_empty() || value.contains('/') {
                    return None;
                }
                vars.insert(name.to_owned(), value.to_owned());
                rest = &rest[end..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match() {
        let m = match_template("file:///{dir}/{name}.txt", "file:///a/b.txt").unwrap();
        assert_eq!(m["dir"], "a");
        assert_eq!(m["name"], "b");
        assert!(match_template("file:///{dir}/{name}.txt", "file:///a/b/c.txt").is_none());
        assert!(match_template("mem://{id}", "mem://").is_none());
        assert_eq!(match_template("mem://x", "mem://x"), Some(BTreeMap::new()));
    }
}

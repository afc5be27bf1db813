//! `application/x-www-form-urlencoded` bodies, as the provider's API takes them: nested
//! parameters spelled with brackets (`metadata[order_id]=...`).

/// Encodes `pairs` as a form body, in the given order.
#[must_use]
pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape(name.as_ref(), &mut out);
        out.push('=');
        escape(value.as_ref(), &mut out);
    }
    out
}

fn escape(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => {
                out.push('%');
                out.push(char::from(HEX[usize::from(other >> 4)]));
                out.push(char::from(HEX[usize::from(other & 0x0f)]));
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes a form body into its pairs, in order. Malformed escapes are kept as they are; bytes
/// that are not UTF-8 become U+FFFD.
#[must_use]
pub fn decode(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut halves = part.splitn(2, |b| *b == b'=');
            let name = halves.next().unwrap_or_default();
            let value = halves.next().unwrap_or_default();
            (unescape(name), unescape(value))
        })
        .collect()
}

fn unescape(text: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    bytes.push(byte);
                    i += 2;
                } else {
                    bytes.push(b'%');
                }
            }
            other => bytes.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_escaped_and_nested_names_keep_their_brackets_readable_once_decoded() {
        let body = encode(&[
            ("amount", "1999"),
            ("currency", "usd"),
            ("metadata[order_id]", "0193a5b2-0000-7000-8000-00000000c0c0"),
            ("description", "mug & lamp = 2 items, 100%"),
        ]);
        assert_eq!(
            body,
            "amount=1999&currency=usd&metadata%5Border_id%5D=0193a5b2-0000-7000-8000-00000000c0c0\
             &description=mug+%26+lamp+%3D+2+items%2C+100%25"
        );
        let back = decode(body.as_bytes());
        assert_eq!(
            back[2],
            (
                "metadata[order_id]".into(),
                "0193a5b2-0000-7000-8000-00000000c0c0".into()
            )
        );
        assert_eq!(back[3].1, "mug & lamp = 2 items, 100%");
    }

    #[test]
    fn unicode_and_odd_input_round_trip_or_degrade_gracefully() {
        let body = encode(&[("name", "caf\u{e9}")]);
        assert_eq!(body, "name=caf%C3%A9");
        assert_eq!(
            decode(body.as_bytes()),
            vec![("name".into(), "caf\u{e9}".into())]
        );
        assert_eq!(
            decode(b"a=%zz&&b&c=1%2"),
            vec![
                ("a".into(), "%zz".into()),
                ("b".into(), String::new()),
                ("c".into(), "1%2".into())
            ]
        );
    }
}

//! Counts in words, shared by every text connlab prints: "1 request", "2 requests".

/// `n` and the noun that agrees with it.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_noun_agrees_with_the_count() {
        assert_eq!(plural(1, "flow", "flows"), "1 flow");
        assert_eq!(plural(0, "flow", "flows"), "0 flows");
        assert_eq!(plural(2, "RST", "RSTs"), "2 RSTs");
    }
}

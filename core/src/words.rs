//! Counts in words, shared by every text connlab prints: "1 request", "2 requests", "the
//! 101st response".

/// `n` and the noun that agrees with it.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `n` as an English ordinal: "1st", "2nd", "11th", "101st".
pub fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
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

    #[test]
    fn ordinals_take_their_suffix() {
        let said: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 100, 101, 112]
            .map(ordinal)
            .into();
        assert_eq!(
            said,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "100th", "101st",
                "112th"
            ]
        );
    }
}

//! CMU ARPAbet (the acoustic model's phone set) and eSpeak NG's English
//! symbols (the factory's), both ways, and the CMU pronouncing dictionary
//! that ships with the model.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Each ARPAbet phone of the model and the eSpeak NG symbol it becomes.
/// `AH` is the schwa `@`: the model's dictionary has no stress marks, and
/// unstressed `AH0` is far the most common.
pub const PHONES: [(&str, &str); 39] = [
    ("AA", "A:"),
    ("AE", "a"),
    ("AH", "@"),
    ("AO", "O:"),
    ("AW", "aU"),
    ("AY", "aI"),
    ("B", "b"),
    ("CH", "tS"),
    ("D", "d"),
    ("DH", "D"),
    ("EH", "E"),
    ("ER", "3:"),
    ("EY", "eI"),
    ("F", "f"),
    ("G", "g"),
    ("HH", "h"),
    ("IH", "I"),
    ("IY", "i:"),
    ("JH", "dZ"),
    ("K", "k"),
    ("L", "l"),
    ("M", "m"),
    ("N", "n"),
    ("NG", "N"),
    ("OW", "oU"),
    ("OY", "OI"),
    ("P", "p"),
    ("R", "r"),
    ("S", "s"),
    ("SH", "S"),
    ("T", "t"),
    ("TH", "T"),
    ("UH", "U"),
    ("UW", "u:"),
    ("V", "v"),
    ("W", "w"),
    ("Y", "j"),
    ("Z", "z"),
    ("ZH", "Z"),
];

/// The eSpeak NG symbol for an ARPAbet phone, with or without a stress
/// digit (`AH1` is the stressed `V`, `ER0` the unstressed `3`); `None` for
/// a name that is no ARPAbet phone.
pub fn espeak_symbol(arpabet: &str) -> Option<&'static str> {
    let base = arpabet.trim_end_matches(['0', '1', '2']);
    let stressed = arpabet.ends_with(['1', '2']);
    match base {
        "AH" if stressed => Some("V"),
        "ER" if arpabet.ends_with('0') => Some("3"),
        _ => PHONES.iter().find(|(a, _)| *a == base).map(|(_, e)| *e),
    }
}

/// eSpeak NG's English symbols (those its English voices speak) as ARPAbet
/// phones: r-coloured vowels and syllabic /l/ become two phones, a glottal
/// stop is the /t/ it stands for in American English, and the linking `;`
/// is no sound. Pauses are not listed.
const FROM_ESPEAK: [(&str, &[&str]); 91] = [
    ("p", &["P"]),
    ("b", &["B"]),
    ("m", &["M"]),
    ("m-", &["M"]),
    ("f", &["F"]),
    ("v", &["V"]),
    ("T", &["TH"]),
    ("D", &["DH"]),
    ("t", &["T"]),
    ("t#", &["T"]),
    ("t2", &["T"]),
    ("t[", &["T"]),
    ("*", &["T"]),
    ("?", &["T"]),
    ("d", &["D"]),
    ("d#", &["D"]),
    ("d[", &["D"]),
    ("n", &["N"]),
    ("n-", &["N"]),
    ("l", &["L"]),
    ("l/", &["L"]),
    ("l#", &["L"]),
    ("@L", &["AH", "L"]),
    ("s", &["S"]),
    ("z", &["Z"]),
    ("S", &["SH"]),
    ("Z", &["ZH"]),
    ("tS", &["CH"]),
    ("dZ", &["JH"]),
    ("k", &["K"]),
    ("x", &["K"]),
    ("g", &["G"]),
    ("N", &["NG"]),
    ("r", &["R"]),
    ("r-", &["R"]),
    ("w", &["W"]),
    ("w#", &["W"]),
    ("W", &["W"]),
    ("j", &["Y"]),
    ("h", &["HH"]),
    (";", &[]),
    ("a", &["AE"]),
    ("aa", &["AE"]),
    ("a2", &["AE"]),
    ("a#", &["AH"]),
    ("A:", &["AA"]),
    ("A", &["AA"]),
    ("A#", &["AA"]),
    ("A@", &["AA", "R"]),
    ("0", &["AA"]),
    ("02", &["AA"]),
    ("V", &["AH"]),
    ("VR", &["AH", "R"]),
    ("O:", &["AO"]),
    ("O", &["AO"]),
    ("O2", &["AO"]),
    ("O@", &["AO", "R"]),
    ("o@", &["AO", "R"]),
    ("o", &["OW"]),
    ("oU", &["OW"]),
    ("o@U", &["OW"]),
    ("OI", &["OY"]),
    ("E", &["EH"]),
    ("e", &["EH"]),
    ("E2", &["EH"]),
    ("e@", &["EH", "R"]),
    ("eI", &["EY"]),
    ("3:", &["ER"]),
    ("3", &["ER"]),
    ("@", &["AH"]),
    ("@2", &["AH"]),
    ("@5", &["AH"]),
    ("@1", &["AH"]),
    ("I", &["IH"]),
    ("I2", &["IH"]),
    ("I#", &["IH"]),
    ("IR", &["IH", "R"]),
    ("i", &["IY"]),
    ("i:", &["IY"]),
    ("i@", &["IH", "R"]),
    ("i@3", &["IY", "R"]),
    ("U", &["UH"]),
    ("U@", &["UH", "R"]),
    ("u:", &["UW"]),
    ("u", &["UW"]),
    ("aI", &["AY"]),
    ("aI2", &["AY"]),
    ("aI@", &["AY", "ER"]),
    ("aI3", &["AY", "ER"]),
    ("aU", &["AW"]),
    ("aU@", &["AW", "ER"]),
];

/// The ARPAbet phones for an eSpeak NG English symbol; `None` for a symbol
/// not listed (pauses included).
pub fn from_espeak(symbol: &str) -> Option<&'static [&'static str]> {
    FROM_ESPEAK.iter().find(|(e, _)| *e == symbol).map(|(_, a)| *a)
}

/// The CMU pronouncing dictionary of the model: `word` (lower case) →
/// its pronunciations, the first the most common, as ARPAbet phones.
pub type Dictionary = HashMap<String, Vec<Vec<String>>>;

/// Reads a dictionary in CMU Sphinx's format: `word PH ON ES` per line,
/// alternatives as `word(2) …`.
pub fn parse_dictionary(text: &str) -> Dictionary {
    let mut words = Dictionary::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(name) = fields.next() else { continue };
        let word = match name.find('(') {
            Some(paren) if name.ends_with(')') => &name[..paren],
            _ => name,
        };
        let phones: Vec<String> = fields.map(str::to_owned).collect();
        if !phones.is_empty() {
            words.entry(word.to_lowercase()).or_default().push(phones);
        }
    }
    words
}

/// The model's dictionary, read once; an error names the missing file.
pub fn dictionary() -> Result<&'static Dictionary, String> {
    static DICTIONARY: OnceLock<Result<Dictionary, String>> = OnceLock::new();
    DICTIONARY
        .get_or_init(|| {
            let path = super::pocketsphinx::dictionary_path();
            std::fs::read_to_string(&path)
                .map(|text| parse_dictionary(&text))
                .map_err(|e| format!("{} ({e}); {}", path.display(), super::pocketsphinx::INSTALL_MODEL))
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::visemes::lookup;

    #[test]
    fn every_phone_of_the_model_maps_to_a_known_symbol_and_back() {
        // The model's phones are those its dictionary uses.
        let mut used: Vec<&str> = dictionary()
            .unwrap()
            .values()
            .flatten()
            .flatten()
            .map(String::as_str)
            .collect();
        used.sort_unstable();
        used.dedup();
        assert_eq!(used.len(), PHONES.len(), "{used:?}");
        for phone in used {
            let symbol = espeak_symbol(phone).unwrap_or_else(|| panic!("{phone} has no eSpeak symbol"));
            assert!(lookup(symbol).is_some(), "{phone} → /{symbol}/ has no viseme");
            assert_eq!(from_espeak(symbol), Some(&[phone][..]), "{phone} → /{symbol}/ → back");
        }
    }

    #[test]
    fn stress_digits_choose_the_vowel() {
        assert_eq!(espeak_symbol("AH0"), Some("@"));
        assert_eq!(espeak_symbol("AH1"), Some("V"));
        assert_eq!(espeak_symbol("ER0"), Some("3"));
        assert_eq!(espeak_symbol("ER1"), Some("3:"));
        assert_eq!(espeak_symbol("IY2"), Some("i:"));
        assert_eq!(espeak_symbol("QQ"), None);
        for phone in ["AH1", "ER0"] {
            assert!(lookup(espeak_symbol(phone).unwrap()).is_some());
        }
    }

    #[test]
    fn every_espeak_symbol_listed_is_known_and_becomes_model_phones() {
        for (symbol, phones) in FROM_ESPEAK {
            assert!(lookup(symbol).is_some(), "/{symbol}/ has no viseme");
            for phone in phones {
                assert!(
                    PHONES.iter().any(|(a, _)| a == phone),
                    "/{symbol}/ → {phone} is no model phone"
                );
            }
        }
    }

    #[test]
    fn dictionary_lines_give_words_and_alternatives() {
        let words = parse_dictionary("read R IY D\nread(2) R EH D\nThe DH AH\n\n");
        assert_eq!(words["read"], [vec!["R", "IY", "D"], vec!["R", "EH", "D"]]);
        assert_eq!(words["the"], [vec!["DH", "AH"]]);
    }
}

use super::*;
use crate::dataset::speech::{Voice, speak};

fn voice(name: &str, rate: u32) -> Voice {
    Voice {
        name: name.into(),
        rate,
        pitch: 50,
        range: 50,
    }
}

/// Phone starts as (ARPAbet phone, seconds); a symbol that stands for two
/// phones gives the second no start of its own (`None`), and pauses are left out.
fn arpabet_starts(phones: &[Phone]) -> Vec<(&'static str, Option<f64>)> {
    let mut starts = Vec::new();
    for p in phones.iter().filter(|p| !p.symbol.starts_with('_')) {
        let arpabet = arpabet::from_espeak(&p.symbol).unwrap_or_else(|| panic!("/{}/ unknown", p.symbol));
        for (i, phone) in arpabet.iter().enumerate() {
            starts.push((*phone, (i == 0).then_some(p.start)));
        }
    }
    starts
}

/// Boundary errors between two phone sequences: the sequences are matched
/// by edit distance, and every phone both name alike and both give a start
/// compares its starts. Returns the differences (reference − aligned) in seconds.
fn boundary_errors(reference: &[(&str, Option<f64>)], aligned: &[(&str, Option<f64>)]) -> Vec<f64> {
    let (n, m) = (reference.len(), aligned.len());
    let mut cost = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in cost.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=m {
        cost[0][j] = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let substitute = cost[i - 1][j - 1] + usize::from(reference[i - 1].0 != aligned[j - 1].0);
            cost[i][j] = substitute.min(cost[i - 1][j] + 1).min(cost[i][j - 1] + 1);
        }
    }
    let (mut i, mut j, mut errors) = (n, m, Vec::new());
    while i > 0 && j > 0 {
        let same = reference[i - 1].0 == aligned[j - 1].0;
        if cost[i][j] == cost[i - 1][j - 1] + usize::from(!same) {
            if let (true, Some(a), Some(b)) = (same, reference[i - 1].1, aligned[j - 1].1) {
                errors.push(a - b);
            }
            i -= 1;
            j -= 1;
        } else if cost[i][j] == cost[i - 1][j] + 1 {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    errors
}

#[test]
fn phone_boundaries_match_espeak_s_own_within_30_ms() {
    let lines = [
        ("The birch canoe slid on the smooth planks.", "en-us", 160),
        ("Glue the sheet to the dark blue background.", "en-us+f2", 175),
        ("It's easy to tell the depth of a well.", "en+m3", 150),
    ];
    for (text, name, rate) in lines {
        let speech = speak(text, &voice(name, rate)).unwrap();
        let alignment = align(&speech.samples, speech.sample_rate, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let duration = speech.samples.len() as f64 / speech.sample_rate as f64;
        let phones = &alignment.phones;
        assert_eq!(phones[0].start, 0.0);
        assert!(
            (phones.last().unwrap().end - duration).abs() < 0.01,
            "the phones end with the audio"
        );
        assert!(
            phones
                .windows(2)
                .all(|w| w[0].end == w[1].start && w[0].start < w[0].end)
        );
        assert!(
            phones
                .iter()
                .all(|p| crate::dataset::visemes::lookup(&p.symbol).is_some())
        );
        assert_eq!(alignment.words.len(), text.split_whitespace().count());

        let reference = arpabet_starts(&speech.phones);
        let aligned = arpabet_starts(phones);
        let errors = boundary_errors(&reference, &aligned);
        let mean = errors.iter().map(|e| e.abs()).sum::<f64>() / errors.len() as f64;
        let bias = errors.iter().sum::<f64>() / errors.len() as f64;
        eprintln!(
            "{name}: {} of {} phone starts compared, mean error {:.1} ms (eSpeak later by {:.1} ms on average), \
             loudest pause {:?} dB",
            errors.len(),
            aligned.len(),
            mean * 1000.0,
            bias * 1000.0,
            alignment.loudest_pause
        );
        assert!(
            errors.len() * 10 >= aligned.len() * 7,
            "most phones are compared: {} of {}",
            errors.len(),
            aligned.len()
        );
        assert!(mean < 0.030, "{name}: mean boundary error {:.1} ms", mean * 1000.0);
    }
}

#[test]
fn a_wrong_transcript_is_refused() {
    let speech = speak("The birch canoe slid on the smooth planks.", &voice("en-us", 160)).unwrap();
    for wrong in [
        "Glue the sheet to the dark blue background.",
        "Planks smooth the on slid canoe birch the.",
        "The birch canoe.",
        "Hi.",
    ] {
        let err = align(&speech.samples, speech.sample_rate, wrong).unwrap_err();
        assert!(
            matches!(err, AlignError::Mismatch { .. } | AlignError::NoFit),
            "{wrong}: {err}"
        );
        eprintln!("{wrong}: {err}");
    }
}

#[test]
fn a_word_left_out_of_the_transcript_is_refused() {
    // A content word in the middle left out: its sound would have to hide in
    // a short pause as loud as speech.
    for (said, left_out) in [
        ("The birch canoe slid on the smooth planks.", "The birch canoe on the smooth planks."),
        ("Glue the sheet to the dark blue background.", "Glue the sheet to the blue background."),
        ("It's easy to tell the depth of a well.", "It's easy to tell the of a well."),
    ] {
        let speech = speak(said, &voice("en-us", 160)).unwrap();
        align(&speech.samples, speech.sample_rate, said).unwrap();
        let err = align(&speech.samples, speech.sample_rate, left_out).unwrap_err();
        assert!(matches!(err, AlignError::Mismatch { .. } | AlignError::NoFit), "{left_out}: {err}");
    }
}

#[test]
fn silence_and_empty_audio_are_refused() {
    let silence = vec![0.0f32; 22_050 * 2];
    assert_eq!(align(&silence, 22_050, "Hello there."), Err(AlignError::Silent));
    let hiss: Vec<f32> = (0..16_000)
        .map(|i| 1e-4 * ((i * 7919 % 200) as f32 / 100.0 - 1.0))
        .collect();
    assert_eq!(align(&hiss, 16_000, "Hello there."), Err(AlignError::Silent));
    assert_eq!(align(&[], 16_000, "Hello."), Err(AlignError::EmptyAudio));
}

#[test]
fn a_made_up_word_is_pronounced_by_espeak_s_rules() {
    let text = "The blorfington zibbles quickly.";
    let speech = speak(text, &voice("en-us", 160)).unwrap();
    let alignment = align(&speech.samples, speech.sample_rate, text).unwrap();
    let guessed: Vec<&str> = alignment
        .words
        .iter()
        .filter(|w| w.guessed)
        .map(|w| w.text.as_str())
        .collect();
    assert_eq!(guessed, ["blorfington", "zibbles"]);
    let errors = boundary_errors(&arpabet_starts(&speech.phones), &arpabet_starts(&alignment.phones));
    let mean = errors.iter().map(|e| e.abs()).sum::<f64>() / errors.len() as f64;
    assert!(mean < 0.030, "mean boundary error {:.1} ms", mean * 1000.0);
}

#[test]
fn transcripts_without_words_or_with_unspoken_characters_are_refused() {
    let audio = vec![0.1f32; 16_000];
    assert_eq!(align(&audio, 16_000, " ... !"), Err(AlignError::NoWords));
    assert_eq!(
        align(&audio, 16_000, "I have 3 cats."),
        Err(AlignError::UnknownCharacter('3'))
    );
    assert_eq!(align(&audio, 16_000, "a # b"), Err(AlignError::UnknownCharacter('#')));
    assert!(
        AlignError::UnknownCharacter('3')
            .to_string()
            .contains("write numbers out")
    );
    assert_eq!(
        transcript_words("“Don’t,” she said—'twas 'fine'.").unwrap(),
        ["don't", "she", "said", "twas", "fine"]
    );
}

#[test]
fn the_grammar_forces_the_words_with_optional_pauses() {
    let the = vec![vec!["DH".to_string(), "AH".into()], vec!["DH".into(), "IY".into()]];
    let cat = vec![vec!["K".to_string(), "AE".into(), "T".into()]];
    assert_eq!(
        grammar(&[&the, &cat]),
        "public <line> = (pau (p_dh p_ah | p_dh p_iy) | (p_dh p_ah | p_dh p_iy)) [pau] (p_k p_ae p_t) [pau];"
    );
    let phones: Vec<String> = ["DH", "IY", "K", "AE", "T"].map(String::from).to_vec();
    let words = [(the, false), (cat, false)];
    assert_eq!(split(&phones, &words), Some(vec![2, 3]));
    assert_eq!(split(&phones[1..], &words), None);
}

#[test]
fn alignment_runs_faster_than_real_time() {
    let text = "Please enter your password, followed by the pound key.";
    let speech = speak(text, &voice("en-us", 160)).unwrap();
    align(&speech.samples, speech.sample_rate, text).unwrap();
    let started = std::time::Instant::now();
    let runs = 3;
    for _ in 0..runs {
        align(&speech.samples, speech.sample_rate, text).unwrap();
    }
    let seconds = started.elapsed().as_secs_f64() / runs as f64;
    let duration = speech.samples.len() as f64 / speech.sample_rate as f64;
    eprintln!(
        "{duration:.2} s of speech aligned in {:.0} ms: {:.1}× real time",
        seconds * 1000.0,
        duration / seconds
    );
    assert!(seconds < duration, "{seconds} s for {duration} s");
}

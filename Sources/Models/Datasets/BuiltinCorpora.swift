// Built-in corpora written by the project itself (no downloads), seeded and reproducible:
// short simple stories, and short user/assistant dialogues about a small fixed world plus
// single-digit arithmetic. The dialogue world is fixed, so a model trained on it can answer
// questions about it; the README lists the kinds of questions.
import Compute

public enum DialogueWorld {
    public static let people = ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana"]
    public static let places = ["garden", "kitchen", "park", "school", "beach", "library", "market", "forest"]
    public static let objects = ["ball", "cup", "book", "hat", "kite", "lamp", "bag", "boat"]
    public static let colours = ["red", "blue", "green", "yellow", "white", "black", "pink", "orange"]
    public static let fruits = ["apples", "pears", "plums", "figs", "lemons", "cherries", "grapes", "peaches"]
    public static let numberWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

    /// Where each person is, what they have, its colour, and how many fruits of which kind.
    public static func place(of p: Int) -> String { places[(p * 3 + 1) % places.count] }
    public static func object(of p: Int) -> String { objects[(p * 5 + 2) % objects.count] }
    public static func colour(of p: Int) -> String { colours[(p * 7 + 3) % colours.count] }
    public static func fruit(of p: Int) -> String { fruits[p % fruits.count] }
    public static func fruitCount(of p: Int) -> Int { (p * 4 + 3) % 9 + 1 }

    /// The turn template: a user line and the assistant's answer, each ending in a newline.
    public static let userPrefix = "User: ", assistantPrefix = "Bot: "

    /// One question and its answer.
    public static func exchange(_ rng: inout RNG) -> (String, String) {
        let kind = rng.int(below: 100)
        let p = rng.int(below: people.count)
        let name = people[p]
        switch kind {
        case 0..<30:
            let a = rng.int(below: 10)
            let b = rng.int(below: 10)
            return ("what is \(a) plus \(b)?", "\(a) plus \(b) is \(a + b).")
        case 30..<50:
            let a = rng.int(below: 10)
            let b = rng.int(below: 10)
            return ("what is \(a) minus \(b)?", "\(a) minus \(b) is \(a - b).")
        case 50..<58: return ("where is \(name)?", "\(name) is in the \(place(of: p)).")
        case 58..<66: return ("what does \(name) have?", "\(name) has a \(colour(of: p)) \(object(of: p)).")
        case 66..<74:
            return ("what colour is \(name)'s \(object(of: p))?", "\(name)'s \(object(of: p)) is \(colour(of: p)).")
        case 74..<82:
            let n = fruitCount(of: p)
            return ("how many \(fruit(of: p)) does \(name) have?", "\(name) has \(n) \(fruit(of: p)).")
        case 82..<88:
            let place = places[rng.int(below: places.count)]
            let who = people.indices.filter { self.place(of: $0) == place }.map { people[$0] }
            return (
                "who is in the \(place)?",
                who.isEmpty
                    ? "Nobody is in the \(place)."
                    : who.joined(separator: " and ") + " " + (who.count == 1 ? "is" : "are") + " in the \(place)."
            )
        case 88..<93:
            let n = 1 + rng.int(below: 9)
            return ("count to \(n).", (1...n).map(String.init).joined(separator: ", ") + ".")
        case 93..<97:
            let n = rng.int(below: 10)
            return ("how do you write \(n) in words?", "\(n) is \(numberWords[n]).")
        default:
            let greet = ["hello", "hi", "hello!", "hi there"][rng.int(below: 4)]
            return (greet, "Hello! Ask me about numbers or my friends.")
        }
    }

    /// A dialogue of 1–4 exchanges, ending with a blank line.
    public static func dialogue(_ rng: inout RNG) -> String {
        var s = ""
        for _ in 0..<(1 + rng.int(below: 4)) {
            let (q, a) = exchange(&rng)
            s += userPrefix + q + "\n" + assistantPrefix + a + "\n"
        }
        return s + "\n"
    }

    /// `count` dialogues from `seed`.
    public static func corpus(dialogues count: Int, seed: UInt64) -> String {
        var rng = RNG(seed: seed)
        var s = ""
        for _ in 0..<count { s += dialogue(&rng) }
        return s
    }
}

public enum StoryCorpus {
    static let names = ["Lily", "Tom", "Mia", "Sam", "Zoe", "Max", "Ruby", "Leo"]
    static let animals = ["cat", "dog", "bird", "fox", "bunny", "frog", "bear", "duck"]
    static let adjectives = ["little", "happy", "curious", "brave", "sleepy", "kind", "silly", "shy"]
    static let likes = [
        "play with a ball", "eat apples", "look at the stars", "sing songs", "jump in puddles",
        "read books", "run in the park", "build sand castles",
    ]
    static let places = ["the park", "the forest", "the garden", "the beach", "the hill", "the river"]
    static let finds = [
        "a shiny stone", "a red balloon", "a lost kitten", "a big box", "a small key", "a blue feather",
    ]
    static let feelings = ["happy", "surprised", "excited", "scared", "proud", "sad"]

    /// One short story (3–6 sentences), ending with a blank line.
    public static func story(_ r: inout RNG) -> String {
        func pick(_ a: [String]) -> String { a[r.int(below: a.count)] }
        let name = pick(names)
        let animal = pick(animals)
        let friend = pick(names.filter { $0 != name })
        var s = "Once upon a time, there was a \(pick(adjectives)) \(animal) named \(name). "
        s += "\(name) liked to \(pick(likes)). "
        let find = pick(finds)
        let place = pick(places)
        s += "One day, \(name) went to \(place) and found \(find). "
        s += "\(name) felt \(pick(feelings)). "
        switch r.int(below: 3) {
        case 0: s += "\(name) showed it to \(friend), and they played together all day. "
        case 1: s += "\(friend) said, \"Let us keep it safe.\" So they did. "
        default: s += "\(name) took it home and told mom about \(place). "
        }
        if r.int(below: 2) == 0 { s += "At night, \(name) slept well and dreamed of \(place). " }
        s += "The end.\n\n"
        return s
    }

    public static func corpus(stories count: Int, seed: UInt64) -> String {
        var r = RNG(seed: seed)
        var s = ""
        for _ in 0..<count { s += story(&r) }
        return s
    }
}

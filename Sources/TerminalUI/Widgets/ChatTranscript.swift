// A chat transcript: the user's and the model's turns, and the answer being streamed.
public struct ChatTranscript: Widget, Sendable {
    public var turns: [(user: String, assistant: String)]
    public var pending: String?
    /// The question being answered (shown above the streaming answer).
    public var pendingQuestion: String?
    public init(turns: [(user: String, assistant: String)], pending: String? = nil, pendingQuestion: String? = nil) {
        self.turns = turns
        self.pending = pending
        self.pendingQuestion = pendingQuestion
    }
    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        var lines: [(String, Style)] = []
        for t in turns {
            lines.append(("you: " + t.user, Style(fg: ctx.theme.user, bold: true)))
            lines.append(("bot: " + t.assistant, Style(fg: ctx.theme.model)))
        }
        if let p = pending {
            if let q = pendingQuestion { lines.append(("you: " + q, Style(fg: ctx.theme.user, bold: true))) }
            lines.append(("bot: " + p + "▌", Style(fg: ctx.theme.model)))
        }
        TextLog(lines: lines).render(area, into: &buf, ctx)
    }
}

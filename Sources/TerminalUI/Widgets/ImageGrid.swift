// Images laid out in a grid (sample grids, neuron thumbnails), one cell apart.
/// Images laid out in a grid (sample grids of the image labs), `columns` per row, one cell gap.
public struct ImageGrid: Widget, Sendable {
    public var images: [ImageView], columns: Int
    public init(images: [ImageView], columns: Int) {
        self.images = images
        self.columns = max(1, columns)
    }
    public func render(_ area: Rect, into buf: inout Buffer, _ ctx: WidgetContext) {
        let glyphs = ctx.glyphs
        let colors = ctx.colors
        guard !images.isEmpty else { return }
        let rows = (images.count + columns - 1) / columns
        let cw = (area.width - (columns - 1)) / columns
        let ch = (area.height - (rows - 1)) / rows
        guard cw > 0 && ch > 0 else { return }
        for (i, im) in images.enumerated() {
            let r = Rect(
                x: area.x + (i % columns) * (cw + 1), y: area.y + (i / columns) * (ch + 1), width: cw, height: ch)
            im.render(r, into: &buf, ctx)
        }
    }
}

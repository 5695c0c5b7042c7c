// Sample grids (the image labs' and the diffusion lab's batches of images) drawn into a pane.
import Labs
import TerminalUI

extension SampleGrid {
    /// One half-block image view per image.
    var views: [ImageView] {
        (0..<count).map { i in
            var px: [UInt8] = []
            px.reserveCapacity(side * side * 3)
            for y in 0..<side {
                for x in 0..<side {
                    let (r, g, b) = rgb(i, x, y)
                    px += [ImageExport.byte(r), ImageExport.byte(g), ImageExport.byte(b)]
                }
            }
            return ImageView(width: side, height: side, rgb: px)
        }
    }
}

/// Draws a grid of images into `area`: the largest cells (square in pixels: a cell is twice as tall
/// in pixels as it is wide in columns) that still show min(count, 8) images; images are scaled to
/// their cells.
func drawGrid(
    _ grid: SampleGrid, _ area: Rect, _ buf: inout Buffer, _ ctx: RenderContext, maxColumns: Int = 8, atLeast: Int = 8
) {
    guard grid.count > 0, area.width > 2, area.height > 1 else { return }
    let want = min(grid.count, atLeast)
    var best: (perRow: Int, cw: Int, rows: Int)?
    for perRow in 1...min(maxColumns, grid.count) {
        let cw = min(grid.side * 4, (area.width + 1) / perRow - 1)
        let ch = (cw + 1) / 2
        guard cw >= 2, ch >= 1 else { continue }
        let rows = (area.height + 1) / (ch + 1)
        guard rows >= 1 else { continue }
        let shown = min(grid.count, perRow * rows)
        if shown >= want, best == nil || cw > best!.cw { best = (perRow, cw, rows) }
    }
    let pick = best ?? (min(maxColumns, grid.count), max(2, (area.width + 1) / min(maxColumns, grid.count) - 1), 1)
    let shown = min(grid.count, pick.perRow * pick.rows)
    let ch = (pick.cw + 1) / 2
    let w = pick.perRow * (pick.cw + 1) - 1
    let h = ((shown + pick.perRow - 1) / pick.perRow) * (ch + 1) - 1
    let r = Rect(x: area.x, y: area.y, width: min(area.width, w), height: min(area.height, h))
    ImageGrid(images: Array(grid.prefix(shown).views), columns: pick.perRow).render(r, into: &buf, ctx.widgets)
}

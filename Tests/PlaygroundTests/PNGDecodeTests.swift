import Labs
import Playground
import TerminalUI
import TestSupport
import XCTest

/// An independent PNG decoder for tests: chunk CRCs, zlib (Adler-32) and inflate (stored, fixed and
/// dynamic Huffman blocks, RFC 1951) and the five scanline filters — nothing from libpng.
enum TestPNG {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    /// Width, height and RGB8 pixels of an 8-bit RGB (colour type 2) PNG.
    static func decode(_ file: [UInt8]) throws -> (Int, Int, [UInt8]) {
        guard file.count > 8, Array(file[0..<8]) == [137, 80, 78, 71, 13, 10, 26, 10] else {
            throw Failure(description: "no PNG signature")
        }
        var i = 8
        var width = 0
        var height = 0
        var idat: [UInt8] = []
        var sawEnd = false
        while i + 12 <= file.count {
            let len = Int(be32(file, i))
            let type = String(decoding: file[(i + 4)..<(i + 8)], as: UTF8.self)
            guard i + 12 + len <= file.count else { throw Failure(description: "chunk \(type) overruns the file") }
            let crc = be32(file, i + 8 + len)
            guard crc32(file[(i + 4)..<(i + 8 + len)]) == crc else { throw Failure(description: "bad CRC in \(type)") }
            let data = Array(file[(i + 8)..<(i + 8 + len)])
            switch type {
            case "IHDR":
                width = Int(be32(data, 0))
                height = Int(be32(data, 4))
                guard data[8] == 8, data[9] == 2, data[12] == 0 else {
                    throw Failure(description: "not 8-bit RGB, non-interlaced")
                }
            case "IDAT": idat += data
            case "IEND": sawEnd = true
            default: break
            }
            i += 12 + len
        }
        guard sawEnd else { throw Failure(description: "no IEND") }
        guard idat.count > 6, (UInt16(idat[0]) << 8 | UInt16(idat[1])) % 31 == 0, idat[0] & 0x0F == 8 else {
            throw Failure(description: "bad zlib header")
        }
        let raw = try inflate(Array(idat[2...]))
        // Adler-32 of the inflated data, stored after the deflate stream.
        var a: UInt32 = 1
        var b: UInt32 = 0
        for x in raw {
            a = (a + UInt32(x)) % 65521
            b = (b + a) % 65521
        }
        guard be32(idat, idat.count - 4) == (b << 16 | a) else { throw Failure(description: "bad Adler-32") }
        let stride = width * 3
        guard raw.count == height * (stride + 1) else { throw Failure(description: "\(raw.count) bytes of scanlines") }
        var px = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let f = raw[y * (stride + 1)]
            for x in 0..<stride {
                let v = raw[y * (stride + 1) + 1 + x]
                let left = x >= 3 ? Int(px[y * stride + x - 3]) : 0
                let up = y > 0 ? Int(px[(y - 1) * stride + x]) : 0
                let ul = (x >= 3 && y > 0) ? Int(px[(y - 1) * stride + x - 3]) : 0
                let pred: Int
                switch f {
                case 0: pred = 0
                case 1: pred = left
                case 2: pred = up
                case 3: pred = (left + up) / 2
                case 4:
                    let p = left + up - ul
                    let (pa, pb, pc) = (abs(p - left), abs(p - up), abs(p - ul))
                    pred = pa <= pb && pa <= pc ? left : (pb <= pc ? up : ul)
                default: throw Failure(description: "filter \(f)")
                }
                px[y * stride + x] = UInt8((Int(v) + pred) & 255)
            }
        }
        return (width, height, px)
    }

    struct Bits {
        let d: [UInt8]
        var pos = 0
        mutating func bit() throws -> Int {
            guard pos / 8 < d.count else { throw Failure(description: "deflate stream ends early") }
            defer { pos += 1 }
            return Int(d[pos / 8] >> (pos % 8)) & 1
        }
        mutating func bits(_ n: Int) throws -> Int {
            var v = 0
            for k in 0..<n { v |= try bit() << k }
            return v
        }
    }

    /// Canonical Huffman decoding table: (length, code) → symbol.
    struct Huffman {
        var table: [Int: Int] = [:]
        init(_ lengths: [Int]) {
            var code = 0
            for len in 1...15 {
                for (sym, l) in lengths.enumerated() where l == len {
                    table[len << 16 | code] = sym
                    code += 1
                }
                code <<= 1
            }
        }
        func decode(_ b: inout Bits) throws -> Int {
            var code = 0
            for len in 1...15 {
                code = code << 1 | (try b.bit())
                if let s = table[len << 16 | code] { return s }
            }
            throw Failure(description: "bad Huffman code")
        }
    }

    static func inflate(_ data: [UInt8]) throws -> [UInt8] {
        var b = Bits(d: data)
        var out: [UInt8] = []
        let lenBase = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
            227, 258,
        ]
        let lenExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
        let distBase = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
            4097, 6145, 8193, 12289, 16385, 24577,
        ]
        let distExtra = [
            0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
        ]
        var final = 0
        repeat {
            final = try b.bits(1)
            let type = try b.bits(2)
            if type == 0 {
                b.pos = (b.pos + 7) / 8 * 8
                let len = try b.bits(16)
                _ = try b.bits(16)
                for _ in 0..<len { out.append(UInt8(try b.bits(8))) }
                continue
            }
            let lit: Huffman
            let dist: Huffman
            if type == 1 {
                lit = Huffman((0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 })
                dist = Huffman([Int](repeating: 5, count: 30))
            } else if type == 2 {
                let hlit = try b.bits(5) + 257
                let hdist = try b.bits(5) + 1
                let hclen = try b.bits(4) + 4
                let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
                var cl = [Int](repeating: 0, count: 19)
                for k in 0..<hclen { cl[order[k]] = try b.bits(3) }
                let clh = Huffman(cl)
                var lengths: [Int] = []
                while lengths.count < hlit + hdist {
                    let s = try clh.decode(&b)
                    switch s {
                    case 0...15: lengths.append(s)
                    case 16:
                        guard let last = lengths.last else { throw Failure(description: "repeat with no length") }
                        lengths += [Int](repeating: last, count: 3 + (try b.bits(2)))
                    case 17: lengths += [Int](repeating: 0, count: 3 + (try b.bits(3)))
                    default: lengths += [Int](repeating: 0, count: 11 + (try b.bits(7)))
                    }
                }
                lit = Huffman(Array(lengths[0..<hlit]))
                dist = Huffman(Array(lengths[hlit..<(hlit + hdist)]))
            } else {
                throw Failure(description: "block type 3")
            }
            while true {
                let s = try lit.decode(&b)
                if s < 256 {
                    out.append(UInt8(s))
                } else if s == 256 {
                    break
                } else {
                    let li = s - 257
                    guard li < lenBase.count else { throw Failure(description: "length symbol \(s)") }
                    let len = lenBase[li] + (try b.bits(lenExtra[li]))
                    let di = try dist.decode(&b)
                    guard di < distBase.count else { throw Failure(description: "distance symbol \(di)") }
                    let d = distBase[di] + (try b.bits(distExtra[di]))
                    guard d <= out.count else { throw Failure(description: "distance beyond the output") }
                    for _ in 0..<len { out.append(out[out.count - d]) }
                }
            }
        } while final == 0
        return out
    }
}

final class PNGDecodeTests: XCTestCase {
    /// PNGs written by the image export decode, with our own inflate and CRC checks, to the size and
    /// the pixels that were drawn.
    func testWrittenPNGsDecodeIndependently() throws {
        let dir = try temporaryDirectory("png")
        // A sample grid of known pixels: 3 colour images of 4×4 with distinct values.
        var px: [Float] = []
        for i in 0..<3 { for c in 0..<3 { for k in 0..<16 { px.append(Float((i * 48 + c * 16 + k) % 256) / 255) } } }
        let grid = SampleGrid(count: 3, channels: 3, side: 4, pixels: px)
        let (w, h, rgb) = ImageExport.gridPNG(grid, columns: 2, scale: 3, title: "test grid")
        let path = dir + "/grid.png"
        try PNGExport.write(path, width: w, height: h, rgb: rgb)
        let (dw, dh, dpx) = try TestPNG.decode(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertEqual(dw, w)
        XCTAssertEqual(dh, h)
        XCTAssertEqual(dpx, rgb, "decoded pixels equal the drawn ones")
        // The first image's top-left pixel sits at (gap, title height) scaled ×3: value of pixel 0.
        let top = 22
        let i0 = (top * w + 2) * 3
        XCTAssertEqual(Array(dpx[i0..<(i0 + 3)]), [0, 16, 32].map { UInt8($0) })
        // A large, compressible figure (dynamic Huffman blocks) too.
        let plot = PNGExport.plot(
            [Series(name: "x", points: (0..<200).map { (Double($0), sin(Double($0) / 10)) }, color: 33)], title: "sine")
        try PNGExport.write(dir + "/plot.png", width: plot.0, height: plot.1, rgb: plot.2)
        let (pw, ph, ppx) = try TestPNG.decode(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/plot.png"))))
        XCTAssertEqual([pw, ph], [plot.0, plot.1])
        XCTAssertEqual(ppx, plot.2)
        // A corrupted byte is caught by the CRC.
        var bad = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        bad[40] ^= 0xFF
        XCTAssertThrowsError(try TestPNG.decode(bad))
    }
}

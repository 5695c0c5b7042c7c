// The image lab's shipped models, compiled into the binary (assets/models/gan-glyphs: a DCGAN on
// glyphs; assets/models/vqgan-shapes: a VQGAN on shapes with its GPT prior), so previews mean
// something at first launch. $ORRERY_ASSETS/models/… replaces them when set (to try a retrained
// model without rebuilding); a session directory can always be named instead.
import CAssets
import Foundation

public enum ShippedImageModels {
    static func assetOverride(_ name: String) -> String? {
        guard let root = ProcessInfo.processInfo.environment["ORRERY_ASSETS"], !root.isEmpty else { return nil }
        return root + "/models/" + name
    }

    static func embedded(_ label: String, config: (UnsafePointer<UInt8>, UInt), model: (UnsafePointer<UInt8>, UInt))
        -> SnapshotFiles
    {
        ImageCheckpoint.embedded(
            label,
            [
                "config.json": UnsafeRawBufferPointer(start: config.0, count: Int(config.1)),
                "model.safetensors": UnsafeRawBufferPointer(start: model.0, count: Int(model.1)),
            ])
    }

    /// The GAN in `checkpoint`, or the shipped glyph GAN.
    public static func gan(checkpoint: String? = nil) throws -> GANLab {
        if let dir = checkpoint ?? assetOverride("gan-glyphs") { return try GANLab.load(from: dir) }
        return try GANLab.load(
            embedded(
                "the shipped glyph GAN",
                config: (orrery_gan_config_json_ptr(), orrery_gan_config_json_size),
                model: (orrery_gan_model_safetensors_ptr(), orrery_gan_model_safetensors_size)))
    }

    /// The VQ prior in `checkpoint`, or the shipped shapes VQGAN and prior.
    public static func vqPrior(checkpoint: String? = nil) throws -> VQPriorSession {
        if let dir = checkpoint ?? assetOverride("vqgan-shapes") { return try VQPriorLab.load(from: dir) }
        return try VQPriorLab.loadSession(
            embedded(
                "the shipped shapes VQGAN",
                config: (orrery_vqgan_config_json_ptr(), orrery_vqgan_config_json_size),
                model: (orrery_vqgan_model_safetensors_ptr(), orrery_vqgan_model_safetensors_size)))
    }
}

// The sequence lab's shipped detectors (assets/models/oad-stream: OadTR and its GRU baseline trained
// side by side), compiled into the binary so the stream view means something at first launch.
// $ORRERY_ASSETS/models/oad-stream replaces them when set; a session directory can always be named.
import CAssets
import Foundation

public enum ShippedSequenceModels {
    /// The detectors in `checkpoint`, or the shipped ones.
    public static func detectors(checkpoint: String? = nil) throws -> SequenceLab {
        if let dir = checkpoint ?? ShippedImageModels.assetOverride("oad-stream") {
            return try SequenceLab.load(from: dir)
        }
        return try SequenceLab.load(
            ShippedImageModels.embedded(
                "the shipped action detectors",
                config: (orrery_oad_config_json_ptr(), orrery_oad_config_json_size),
                model: (orrery_oad_model_safetensors_ptr(), orrery_oad_model_safetensors_size)))
    }
}

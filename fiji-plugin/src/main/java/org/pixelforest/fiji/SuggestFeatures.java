package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import org.apposed.appose.NDArray;

import java.util.Map;

/** Plugins > Pixel Forest > Suggest Features...: the best (feature, scale) cells for the ROIs, as a feature .json. */
public class SuggestFeatures extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		ImagePlus imp = currentImage();
		Params p = new Params("Pixel Forest: Suggest Features");
		p.choice("Labels from", new String[] { "ROI Manager", "Overlay" }, "ROI Manager");
		p.string("Candidates", "ilastik-default");
		p.number("Number of features", 7);
		p.file("Save features to", TrainClassifier.defaultPath(imp).replaceAll("\\.pfc$", "") + "_features.json");
		if (!p.show()) return;
		String labels = p.nextChoice(), candidates = p.nextString();
		int n = (int) p.nextNumber();
		String save = p.nextString().trim();
		RoiIndex index = RoiIndex.build(imp, RoiIndex.rois(imp, labels));
		NDArray img = ImageBridge.toNDArray(imp);
		try {
			Map<String, Object> params = index.params();
			params.put("features", candidates);
			params.put("n", n);
			if (!save.isEmpty()) params.put("output", save);
			Map<String, Object> out = PythonService.call("suggest", params, img, "suggesting features");
			IJ.log("Pixel Forest: suggested features " + out.get("cells") + "\n  OOB error " + IJ.d2s(((Number) out.get("oob_error")).doubleValue(), 4)
				+ " (all candidates: " + IJ.d2s(((Number) out.get("oob_error_all")).doubleValue(), 4) + ")"
				+ (save.isEmpty() ? "" : "\n  saved to " + save + " (use it as Features in Train Classifier)"));
		}
		finally {
			img.close();
			index.index.close();
		}
	}
}

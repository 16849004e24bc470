package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import org.apposed.appose.NDArray;

import ij.measure.ResultsTable;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.pixelforest.fiji.Protocol.Key;
import org.pixelforest.fiji.Protocol.Out;

/** Plugins > Pixel Forest > Suggest Features...: the best (feature, scale) cells for the ROIs, as a feature .json. */
public class SuggestFeatures extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		ImagePlus imp = currentImage();
		Params p = new Params("Pixel Forest: Suggest Features");
		p.choice("Labels from", new String[] { "ROI Manager", "Overlay" }, "ROI Manager");
		p.string("Candidates", "ilastik-default");
		p.number("Number of features", 7);
		p.file("Save features to", beside(imp, "_features.json"));
		p.help("<html><h2>Suggest Features</h2>Finds, among many filters (features), the few that tell your labelled classes "
			+ "apart best, as ilastik's Suggest Features does. Fewer features: faster training and prediction, often as good. "
			+ "The list goes to a table; the saved file can be chosen as Features in Train Classifier.</html>");
		if (!p.show()) return;
		String labels = p.nextChoice(), candidates = p.nextString();
		int n = (int) p.nextNumber();
		String save = p.nextString().trim();
		RoiIndex index = RoiIndex.build(imp, RoiIndex.rois(imp, labels, Collections.emptyList()));
		NDArray img = ImageBridge.toNDArray(imp);
		try {
			Map<String, Object> params = index.params();
			params.put(Key.TITLE, imp.getTitle());
			params.put(Key.FEATURES, candidates);
			params.put(Key.N, n);
			if (!save.isEmpty()) params.put(Key.OUTPUT, save);
			Map<String, Object> out = PythonService.call(Protocol.SUGGEST, params, img, "suggesting features");
			@SuppressWarnings("unchecked") List<List<Object>> cells = (List<List<Object>>) out.get(Out.CELLS);
			ResultsTable rt = new ResultsTable();
			for (List<Object> c : cells) {
				rt.incrementCounter();
				rt.addValue("Feature", String.valueOf(c.get(0)));
				rt.addValue("Scale", ((Number) c.get(1)).doubleValue());
				rt.addValue("Score", ((Number) c.get(2)).doubleValue());
			}
			rt.show("Pixel Forest Suggested Features");
			IJ.log("Pixel Forest: " + cells.size() + " features suggested, out-of-bag error " + IJ.d2s(((Number) out.get(Out.OOB_ERROR)).doubleValue(), 4)
				+ " (all candidates: " + IJ.d2s(((Number) out.get(Out.OOB_ERROR_ALL)).doubleValue(), 4) + ")"
				+ (save.isEmpty() ? "" : "; saved to " + save + " (choose it as Features in Train Classifier)") + ".");
		}
		finally {
			img.close();
			index.index.close();
		}
	}
}

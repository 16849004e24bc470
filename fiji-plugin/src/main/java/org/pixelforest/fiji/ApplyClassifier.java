package org.pixelforest.fiji;

import ij.ImagePlus;
import org.apposed.appose.NDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Plugins > Pixel Forest > Apply Classifier...: probabilities, segmentation, uncertainty or features as images. */
public class ApplyClassifier extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		Params p = new Params("Pixel Forest: Apply Classifier");
		p.file("Classifier", lastClassifier());
		p.choice("Output", SOURCES, SOURCES[0]);
		p.choice("Apply to", new String[] { "Current image", "All open images" }, "Current image");
		if (!p.show()) return;
		String classifier = p.nextString().trim(), output = p.nextChoice(), target = p.nextChoice();
		List<ImagePlus> images = target.startsWith("All") ? openImages() : Arrays.asList(currentImage());
		for (ImagePlus imp : images) show(apply(imp, classifier, output));
		rememberClassifier(classifier);
	}

	static ImagePlus apply(ImagePlus imp, String classifier, String output) throws Exception {
		NDArray img = ImageBridge.toNDArray(imp);
		NDArray res = null;
		try {
			Map<String, Object> params = new HashMap<>();
			if (!classifier.isEmpty()) params.put("classifier", classifier);
			params.put("source", source(output));
			params.put("title", imp.getTitle());
			Map<String, Object> out = PythonService.call("predict", params, img, "applying the classifier to " + imp.getTitle());
			res = (NDArray) out.get("result");
			List<String> labels = Arrays.asList(String.valueOf(out.get("labels")).split("\n"));
			List<int[]> colors = colors(String.valueOf(out.get("colors")));
			String title = imp.getTitle().replaceAll("\\.[^.]+$", "") + "_" + output.replace(' ', '_');
			ImagePlus result = ImageBridge.toImagePlus(res, title, labels, imp.getCalibration());
			if (output.equals("Probabilities")) ImageBridge.styleProbabilities(result, colors);
			else if (output.equals("Simple Segmentation")) ImageBridge.styleSegmentation(result, colors);
			else if (output.equals("Uncertainty")) result.setDisplayRange(0, 1);
			result.setProperty("pixelforest.classes", String.valueOf(out.get("classes")));
			return result;
		}
		finally {
			img.close();
			if (res != null) res.close();
		}
	}

	static List<int[]> colors(String text) {
		List<int[]> out = new ArrayList<>();
		for (String c : text.split(";")) {
			if (c.trim().isEmpty()) continue;
			String[] v = c.split(",");
			out.add(new int[] { Integer.parseInt(v[0].trim()), Integer.parseInt(v[1].trim()), Integer.parseInt(v[2].trim()) });
		}
		return out;
	}
}

package org.pixelforest.fiji;

import ij.ImagePlus;
import org.apposed.appose.NDArray;

import java.util.ArrayList;
import java.awt.Color;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.pixelforest.fiji.Protocol.Key;
import org.pixelforest.fiji.Protocol.Out;

/** Plugins > Pixel Forest > Apply Classifier...: probabilities, segmentation, uncertainty or features as images. */
public class ApplyClassifier extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		ImagePlus current = currentImage();
		String last = lastClassifier(), misfit = last.isEmpty() ? null : misfit(last, current);
		Params p = new Params("Pixel Forest: Apply Classifier");
		p.file("Classifier", misfit == null ? last : "");
		if (misfit != null) p.message("The last classifier, " + new java.io.File(last).getName() + ", " + misfit + "; choose another.");
		p.choice("Output", SOURCES, SOURCES[0]);
		p.choice("Apply to", new String[] { "Current image", "All open images" }, "Current image");
		p.help("<html><h2>Apply Classifier</h2>Classifies every pixel of the image with a saved classifier (.pfc from Train "
			+ "Classifier or Live Training, or a trained ilastik project .ilp). <b>Probabilities</b>: one channel per class, "
			+ "how sure the classifier is (0 to 1). <b>Simple Segmentation</b>: each pixel gets the number of its most likely "
			+ "class. <b>Uncertainty</b>: high where two classes are about as likely: label more there. <b>All open images</b> "
			+ "leaves out results of Pixel Forest.</html>");
		if (!p.show()) return;
		String classifier = p.nextString().trim(), output = p.nextChoice(), target = p.nextChoice();
		if (classifier.isEmpty()) throw new IllegalArgumentException("Choose a classifier file (.pfc or a trained ilastik .ilp).");
		List<ImagePlus> images = new ArrayList<>();
		if (target.startsWith("All")) {
			for (ImagePlus imp : openImages()) if (imp.getProperty("pixelforest.classes") == null) images.add(imp);  // not our results
		}
		else images.add(current);
		for (ImagePlus imp : images) show(apply(imp, classifier, output));
		rememberClassifier(classifier);
	}

	/** Why a saved classifier cannot be applied to an image (other channels or dimensionality), null when it can. */
	public static String misfit(String classifier, ImagePlus imp) {
		if (!new java.io.File(classifier).isFile()) return "is no longer there";
		try {
			Map<String, Object> p = new HashMap<>();
			p.put(Key.CLASSIFIER, classifier);
			Map<String, Object> out = PythonService.call(Protocol.LOAD, p, null, "reading " + classifier);
			int channels = ((Number) out.get(Out.N_CHANNELS)).intValue(), ndim = ((Number) out.get(Out.NDIM)).intValue();
			int c = imp.getBitDepth() == 24 ? 3 : imp.getNChannels();
			if (c != channels) return "was trained on images of " + channels + " channel(s), and this one has " + c;
			if ((imp.getNSlices() > 1 ? 3 : 2) != ndim) return ndim == 3 ? "was trained on z-stacks, and this image is 2D" : "was trained on 2D images, and this one is a z-stack";
			return null;
		}
		catch (PythonService.PixelForestException e) {
			return "cannot be read (" + e.getMessage().split("\n")[0] + ")";
		}
	}

	static ImagePlus apply(ImagePlus imp, String classifier, String output) throws Exception {
		NDArray img = ImageBridge.toNDArray(imp);
		NDArray res = null;
		try {
			Map<String, Object> params = new HashMap<>();
			if (!classifier.isEmpty()) params.put(Key.CLASSIFIER, classifier);
			params.put(Key.SOURCE, source(output));
			params.put(Key.TITLE, imp.getTitle());
			Map<String, Object> out = PythonService.call(Protocol.PREDICT, params, img, "applying the classifier to " + imp.getTitle());
			res = (NDArray) out.get(Out.RESULT);
			List<String> labels = Protocol.strings(out.get(Out.LABELS));
			List<Color> colors = Protocol.colors(out.get(Out.COLORS));
			String title = imp.getTitle().replaceAll("\\.[^.]+$", "") + "_" + output.replace(' ', '_');
			ImagePlus result = ImageBridge.toImagePlus(res, title, labels, imp.getCalibration());
			if (output.equals("Probabilities")) ImageBridge.styleProbabilities(result, colors);
			else if (output.equals("Simple Segmentation")) ImageBridge.styleSegmentation(result, colors);
			else if (output.equals("Uncertainty")) result.setDisplayRange(0, 1);
			result.setProperty("pixelforest.classes", String.join(",", Protocol.strings(out.get(Out.CLASSES))));
			return result;
		}
		finally {
			img.close();
			if (res != null) res.close();
		}
	}
}

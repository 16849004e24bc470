package org.pixelforest.fiji;

import ij.IJ;

import java.util.HashMap;
import java.util.Map;

/** Plugins > Pixel Forest > Batch...: apply a classifier to every image of a folder (or glob), writing files. */
public class BatchClassifier extends PixelForestCommand {

	static final String[] FORMATS = { "tiff", "hdf5", "compressed-hdf5", "npy" };

	@Override
	protected void execute(String arg) throws Exception {
		Params p = new Params("Pixel Forest: Batch");
		p.file("Classifier", lastClassifier());
		p.string("Input", IJ.getDirectory("home"));
		p.message("a folder, a glob such as /data/*.tif, or files separated by ;");
		p.directory("Output", "");
		p.message("output folder (empty: beside each input, as ilastik)");
		p.choice("Type", SOURCES, SOURCES[0]);
		p.choice("Format", FORMATS, FORMATS[0]);
		if (!p.show()) return;
		String classifier = p.nextString().trim(), input = p.nextString().trim(), output = p.nextString().trim();
		String type = p.nextChoice(), format = p.nextChoice();
		Map<String, Object> params = new HashMap<>();
		if (!classifier.isEmpty()) params.put("classifier", classifier);
		params.put("inputs", input);
		params.put("output_dir", output);
		params.put("source", source(type));
		params.put("format", format);
		Map<String, Object> out = PythonService.call("batch", params, null, "batch processing");
		IJ.log("Pixel Forest batch:\n" + out.get("summary"));
		int failed = ((Number) out.get("failed")).intValue();
		if (failed > 0) fail(failed + " file(s) failed; see the Log window");
		rememberClassifier(classifier);
	}
}

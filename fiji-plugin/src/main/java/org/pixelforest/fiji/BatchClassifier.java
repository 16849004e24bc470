package org.pixelforest.fiji;

import ij.IJ;

import ij.measure.ResultsTable;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.pixelforest.fiji.Protocol.Key;
import org.pixelforest.fiji.Protocol.Out;

/** Plugins > Pixel Forest > Batch...: apply a classifier to every image of a folder (or glob), writing files. */
public class BatchClassifier extends PixelForestCommand {

	static final String[] FORMATS = { "tiff", "hdf5", "compressed-hdf5", "npy" };
	static final String TABLE = "Pixel Forest Batch";

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
		p.help("<html><h2>Batch</h2>Applies a saved classifier to every image of a folder (or the files matching a pattern such "
			+ "as /data/*.tif) and writes the results as files, named as ilastik names them (image_Probabilities.tif). "
			+ "Results already there are kept, so a stopped batch can be run again. A file that fails does not stop the "
			+ "others; the table at the end lists every file.</html>");
		if (!p.show()) return;
		String classifier = p.nextString().trim(), input = p.nextString().trim(), output = p.nextString().trim();
		String type = p.nextChoice(), format = p.nextChoice();
		Map<String, Object> params = new HashMap<>();
		if (!classifier.isEmpty()) params.put(Key.CLASSIFIER, classifier);
		params.put(Key.INPUTS, input);
		params.put(Key.OUTPUT_DIR, output);
		params.put(Key.SOURCE, source(type));
		params.put(Key.FORMAT, format);
		Map<String, Object> out = PythonService.call(Protocol.BATCH, params, null, "batch processing");
		rememberClassifier(classifier);
		@SuppressWarnings("unchecked") List<Map<String, Object>> summary = (List<Map<String, Object>>) out.get(Out.SUMMARY);
		ResultsTable rt = new ResultsTable();
		int done = 0, skipped = 0;
		for (Map<String, Object> row : summary) {
			rt.incrementCounter();
			String status = String.valueOf(row.get(Protocol.Row.STATUS));
			rt.addValue("Input", String.valueOf(row.get(Protocol.Row.INPUT)));
			rt.addValue("Status", status);
			rt.addValue("Output", String.valueOf(row.getOrDefault(Protocol.Row.OUTPUT, "")));
			rt.addValue("Error", String.valueOf(row.getOrDefault(Protocol.Row.ERROR, "")));
			if (status.startsWith("skipped")) skipped++;
			else if (!status.equals("failed")) done++;
		}
		rt.show(TABLE);
		int failed = ((Number) out.get(Out.FAILED)).intValue();
		String line = "Pixel Forest batch: " + done + " done, " + skipped + " skipped (already there), " + failed + " failed; see the table \"" + TABLE + "\".";
		IJ.log(line);
		if (failed > 0) fail(failed + " of " + summary.size() + " file(s) failed; the table \"" + TABLE + "\" says why.");
	}
}

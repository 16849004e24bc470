package org.pixelforest.fiji;

import ij.ImagePlus;
import org.apposed.appose.NDArray;

import java.io.File;
import java.util.HashMap;
import java.util.Map;
import org.pixelforest.fiji.Protocol.Key;
import org.pixelforest.fiji.Protocol.Out;

/**
 * Plugins > Pixel Forest > Import HDF5: ilastik4ij's name, macro keys ({@code select},
 * {@code datasetname}, {@code axisorder}) and axis rules (axistags, else its guess). The image is
 * titled as ilastik4ij titles it, the file's path and the dataset: {@code /data/a.h5/data}, the
 * name its Run Pixel Classification Prediction example passes as {@code inputimage}.
 */
public class ImportHDF5 extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		Params p = new Params("Pixel Forest: Import HDF5");
		p.file("select", "");
		p.string("datasetname", "");
		p.string("axisorder", "");
		p.message("dataset and axis order may stay empty: taken from the file (axistags) or guessed as ilastik4ij does");
		p.help("<html><h2>Import HDF5</h2>Opens a dataset of an HDF5 file (from ilastik, ilastik4ij or Pixel Forest) as an image. "
			+ "The axes come from the file when it says them; else they are guessed as ilastik4ij guesses them, or given "
			+ "as axis order, e.g. tzyxc.</html>");
		if (!p.show()) return;
		String path = p.nextString().trim(), dataset = p.nextString().trim(), axes = p.nextString().trim();
		Map<String, Object> params = new HashMap<>();
		params.put(Key.PATH, path);
		params.put(Key.DATASET, dataset);
		params.put(Key.AXES, axes);
		Map<String, Object> out = PythonService.call(Protocol.IMPORT_HDF5, params, null, "importing " + path);
		NDArray res = (NDArray) out.get(Out.RESULT);
		try {
			String name = dataset.isEmpty() ? String.valueOf(out.get(Out.DATASET)) : dataset;
			String title = new File(path).getPath().replace('\\', '/') + "/" + name.replaceAll("^/+", "");
			ImagePlus imp = ImageBridge.importedImage(res, title);
			imp.setProperty("pixelforest.axes", String.valueOf(out.get(Out.AXES)));
			show(imp);
		}
		finally {
			res.close();
		}
	}
}
